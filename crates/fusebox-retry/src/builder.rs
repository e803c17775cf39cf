//! [`RetryLayerBuilder`]: a retry layer's [`RetrySettings`] and the parts that are code,
//! checked into a [`Policy`].

use crate::backoff::Backoff;
use crate::budget::RetryBudget;
use crate::config::{Policy, PolicyHandle};
use crate::layer::RetryLayer;
use crate::policy::CloneRequest;
use crate::random::Randomness;
use crate::settings::RetrySettings;
use crate::RandomSource;
use fusebox_core::{ConfigError, EventBus, EventListener, ResultClassifier};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

impl RetryLayer {
    /// Starts building a retry layer named `name` (used in events and logs).
    pub fn builder(name: impl Into<String>) -> RetryLayerBuilder {
        RetryLayerBuilder::new(name.into())
    }
}

/// Builds a [`RetryLayer`]; every setting is checked by [`build`](Self::build).
///
/// | setting | default |
/// |---|---|
/// | `backoff` | exponential from 100 ms, doubling, capped at 10 s, full jitter |
/// | `max_attempts` | 3 (the first send and two retries) |
/// | `deadline` | none |
/// | `max_retry_after` | 60 s |
/// | `budget` | none |
/// | `on_event`, random source | no listener; a fresh seed per call |
/// | classifier | [`ResultClassifier`]: every `Err` is retryable |
/// | requests | [`CloneRequest`]: any `Clone` request |
///
/// ```
/// use fusebox_retry::{Backoff, Jitter, RetryBudget, RetryLayer};
/// use std::time::Duration;
///
/// let layer = RetryLayer::builder("calendar")
///     .backoff(Backoff::exponential(Duration::from_millis(50), 2.0)
///         .max_delay(Duration::from_secs(2))
///         .jitter(Jitter::Equal))
///     .max_attempts(4)
///     .deadline(Duration::from_secs(5))
///     .budget(RetryBudget::builder().ratio(0.1).build()?)
///     .build()?;
/// # Ok::<(), fusebox_core::ConfigError>(())
/// ```
///
/// The data settings can also come from a file or any serde format as [`RetrySettings`]
/// ([`RetrySettings::apply`] lays them over a builder).
pub struct RetryLayerBuilder<C = ResultClassifier, R = CloneRequest> {
    name: String,
    settings: RetrySettings,
    /// A budget given as a value (and perhaps shared with other layers); budget fields in
    /// `settings` replace it.
    budget: Option<RetryBudget>,
    events: EventBus,
    random: Randomness,
    classifier: C,
    requests: R,
}

impl<C, R> fmt::Debug for RetryLayerBuilder<C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayerBuilder")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl RetryLayerBuilder {
    pub(crate) fn new(name: String) -> Self {
        RetryLayerBuilder {
            name,
            settings: RetrySettings::default(),
            budget: None,
            events: EventBus::new(),
            random: Randomness::Fresh,
            classifier: ResultClassifier,
            requests: CloneRequest,
        }
    }
}

impl<C, R> RetryLayerBuilder<C, R> {
    /// The delay schedule between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.settings.set_backoff(backoff);
        self
    }

    /// Attempts in all, the first send included (1 disables retries).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.settings.max_attempts = Some(attempts);
        self
    }

    /// A limit on the whole call, counted from when it starts: no wait may run past it.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.settings.deadline = Some(deadline);
        self
    }

    /// Caps a wait the dependency asks for (`Retry-After`) or an open circuit's time to its
    /// next probe; a longer server hint is cut to this.
    pub fn max_retry_after(mut self, cap: Duration) -> Self {
        self.settings.max_retry_after = Some(cap);
        self
    }

    /// Limits retries to a share of successful calls (see [`RetryBudget`]); one budget may
    /// be given to several layers, which then draw on the same tokens. Replaces a budget the
    /// settings describe.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.settings.clear_budget();
        self.budget = Some(budget);
        self
    }

    /// Adds an event listener for the life of the layer.
    pub fn on_event(self, listener: impl EventListener) -> Self {
        self.events.subscribe(listener).detach();
        self
    }

    /// Seeds the jitter's random source, making delays reproducible (each call starts from the
    /// same seed). Without it every call draws a fresh seed.
    pub fn random_seed(mut self, seed: u64) -> Self {
        self.random = Randomness::Seeded(seed);
        self
    }

    /// Draws the jitter from `source`, one source shared by every call of the layer (behind a
    /// lock taken once per computed delay; a call that needs no retry never touches it).
    /// Replaces [`random_seed`](Self::random_seed).
    ///
    /// [`RandomSource`](crate::RandomSource) is implemented for closures returning numbers in
    /// `[0, 1)` and for [`fastrand::Rng`](crate::fastrand::Rng), re-exported so a seeded
    /// generator needs no dependency of your own:
    ///
    /// ```
    /// use fusebox_retry::{fastrand, RetryLayer};
    ///
    /// let layer = RetryLayer::builder("calendar")
    ///     .random_source(fastrand::Rng::with_seed(42))
    ///     .build()?;
    /// # Ok::<(), fusebox_core::ConfigError>(())
    /// ```
    pub fn random_source(mut self, source: impl RandomSource + Send + 'static) -> Self {
        self.random = Randomness::Shared(Arc::new(Mutex::new(source)));
        self
    }

    /// Decides what is retryable: a closure, a classifier of fusebox's, or any
    /// [`MakeClassify`](fusebox_core::MakeClassify), such as
    /// [`PerRequest`](fusebox_core::PerRequest), whose classifier is made once per call from
    /// its request and judges every attempt of that call.
    pub fn classifier<C2>(self, classifier: C2) -> RetryLayerBuilder<C2, R> {
        RetryLayerBuilder {
            name: self.name,
            settings: self.settings,
            budget: self.budget,
            events: self.events,
            random: self.random,
            classifier,
            requests: self.requests,
        }
    }

    /// Decides how requests are copied for another attempt.
    pub fn requests<R2>(self, requests: R2) -> RetryLayerBuilder<C, R2> {
        RetryLayerBuilder {
            name: self.name,
            settings: self.settings,
            budget: self.budget,
            events: self.events,
            random: self.random,
            classifier: self.classifier,
            requests,
        }
    }

    /// Checks every setting and builds the layer.
    pub fn build(self) -> Result<RetryLayer<C, R>, ConfigError> {
        let (policy, classifier, requests) = self.validated()?;
        Ok(RetryLayer::from_parts(
            PolicyHandle::counted(policy),
            classifier,
            requests,
        ))
    }

    /// Like [`build`](Self::build), for a layer that lives for the rest of the process (built
    /// once at start-up, one per dependency): its policy is never freed, and a call copies a
    /// pointer to it instead of cloning and dropping a reference count (13–20 ns per call in the
    /// runs of docs/benchmarks.md).
    /// Building one per request would leak memory; use [`build`](Self::build) for that.
    ///
    /// ```
    /// use fusebox_retry::RetryLayer;
    ///
    /// let layer = RetryLayer::builder("calendar").max_attempts(3).build_static()?;
    /// # Ok::<(), fusebox_core::ConfigError>(())
    /// ```
    pub fn build_static(self) -> Result<RetryLayer<C, R>, ConfigError> {
        let (policy, classifier, requests) = self.validated()?;
        Ok(RetryLayer::from_parts(
            PolicyHandle::leaked(policy),
            classifier,
            requests,
        ))
    }

    fn validated(self) -> Result<(Policy, C, R), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::new("name", "a non-empty string", &self.name));
        }
        let checked = self.settings.validate()?;
        let policy = Policy {
            name: self.name.into_boxed_str(),
            backoff: checked.backoff,
            max_attempts: checked.max_attempts,
            deadline: checked.deadline,
            max_retry_after: checked.max_retry_after,
            budget: checked.budget.or(self.budget),
            events: self.events,
            random: self.random,
            give_ups: crate::config::GiveUps::default(),
        };
        Ok((policy, self.classifier, self.requests))
    }
}

impl RetrySettings {
    /// `builder` with these settings laid over its own: what these set wins, what they leave
    /// unset keeps the builder's value. Budget fields, when any is set, replace a budget given
    /// to the builder with one of their own.
    ///
    /// ```
    /// use fusebox_retry::{RetryLayer, RetrySettings};
    /// use std::time::Duration;
    ///
    /// let mut settings = RetrySettings::default();
    /// settings.max_attempts = Some(5);
    /// // The builder's classifier and deadline stay; the settings' attempts win over its 2.
    /// let builder = RetryLayer::builder("calendar")
    ///     .max_attempts(2)
    ///     .deadline(Duration::from_secs(3))
    ///     .classifier(|r: Result<&u32, &std::io::Error>| match r {
    ///         Ok(_) => fusebox_core::Outcome::Success,
    ///         Err(_) => fusebox_core::Outcome::retryable_failure(),
    ///     });
    /// let layer = settings.apply(builder).build()?;
    /// # let _ = layer;
    /// # Ok::<(), fusebox_core::ConfigError>(())
    /// ```
    pub fn apply<C, R>(&self, mut builder: RetryLayerBuilder<C, R>) -> RetryLayerBuilder<C, R> {
        if self.describes_budget() {
            builder.budget = None;
        }
        builder.settings = self.or(&builder.settings);
        builder
    }

    /// Builds a retry layer named `name` from these settings, with the default classifier
    /// (every `Err` is retryable) and request policy (any `Clone` request).
    pub fn build(&self, name: &str) -> Result<RetryLayer, ConfigError> {
        self.apply(RetryLayer::builder(name)).build()
    }
}
