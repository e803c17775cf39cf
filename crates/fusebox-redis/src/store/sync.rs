//! The loops that keep breakers and Redis in step: flushing counts, sharing local
//! transitions, asking who probes, and applying what other instances decided.

use super::protocol::{
    self, Action, FlushArgs, Keys, Message, ProbeArgs, ProbeDecision, SharedState, TransitionArgs,
};
use super::{script_ms, Attached, Inner};
use fusebox_core::sync::lock;
use fusebox_core::{CircuitState, Event, EventKind, StoredCircuit};
use futures_util::StreamExt;
use redis::Script;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

impl Inner {
    /// What the backend has not received yet: calls counted since each breaker's last flush,
    /// and local transitions not yet shared.
    pub(super) fn pending(&self) -> (u64, u64) {
        let attached = lock(&self.attached);
        let mut totals = (0u64, 0u64);
        for attached in attached.values().flatten() {
            if let Some(breaker) = attached.breaker.upgrade() {
                let b: &dyn StoredCircuit = &*breaker;
                let now = b.outcome_totals();
                let sent = *lock(&attached.flushed);
                let unsent = (now.0 + now.1).saturating_sub(sent.0 + sent.1);
                totals.0 = totals.0.saturating_add(unsent);
            }
            let queued = lock(&attached.pending).actions.len();
            totals.1 = totals
                .1
                .saturating_add(u64::try_from(queued).unwrap_or(u64::MAX));
        }
        totals
    }

    /// Sends one breaker's counts and applies the shared state; `false` once the breaker is
    /// gone. A breaker with no new calls is skipped unless `poll` (or it was never read).
    pub(super) async fn flush(&self, flush: &Script, attached: &Attached, poll: bool) -> bool {
        let Some(breaker) = attached.breaker.upgrade() else {
            return false;
        };
        let b: &dyn StoredCircuit = &*breaker;
        let now = b.outcome_totals();
        let before = *lock(&attached.flushed);
        let calls = (now.0 + now.1).saturating_sub(before.0 + before.1);
        let failures = now.1.saturating_sub(before.1);
        let read = attached.read.load(std::sync::atomic::Ordering::Relaxed);
        if calls == 0 && !poll && read {
            return true;
        }
        let buckets = 10u64;
        let policy = b.shared_policy();
        let args = FlushArgs {
            calls,
            failures,
            bucket_ms: (script_ms(self.settings.window, 1) / buckets).max(1),
            buckets,
            failure_rate: policy.failure_rate.unwrap_or(0.0),
            min_calls: policy.min_calls,
            open_ms: script_ms(policy.open_duration, 1),
            ttl_ms: script_ms(self.settings.key_ttl, 1),
            channel: &self.channel,
            id: &attached.id,
            instance: &self.instance,
            quorum: self.settings.quorum,
        };
        let mut invocation =
            args.invocation(flush, &Keys::new(&self.settings.namespace, &attached.id));
        if let Some((state, generation, remaining)) =
            self.run::<(String, i64, u64)>(&mut invocation).await
        {
            // Sent: later flushes count from here.
            *lock(&attached.flushed) = now;
            attached
                .read
                .store(true, std::sync::atomic::Ordering::Relaxed);
            if generation == 0 {
                // Redis has no state for this breaker (new, expired, or restarted empty): if
                // this instance knows better, it seeds it.
                self.reseed(attached, b).await;
            } else {
                apply(
                    attached,
                    b,
                    SharedState::parse(&state),
                    generation,
                    remaining,
                );
            }
        }
        true
    }

    pub(super) async fn reseed(&self, attached: &Attached, b: &dyn StoredCircuit) {
        let action = match b.state() {
            CircuitState::Open => Action::Open,
            CircuitState::ForcedOpen => Action::ForcedOpen,
            CircuitState::Disabled => Action::Disabled,
            _ => return,
        };
        let open_for = b.open_remaining().unwrap_or_default();
        if action == Action::Open && open_for.is_zero() {
            return;
        }
        let script = Script::new(protocol::TRANSITION);
        self.share(&script, attached, action, open_for).await;
    }

    /// Records a local transition in Redis; `false` if Redis did not answer.
    pub(super) async fn share(
        &self,
        script: &Script,
        attached: &Attached,
        action: Action,
        open_for: Duration,
    ) -> bool {
        let lease = std::mem::take(&mut *lock(&attached.lease));
        let args = TransitionArgs {
            action,
            open_ms: script_ms(open_for, 1),
            ttl_ms: script_ms(self.settings.key_ttl, 1),
            channel: &self.channel,
            id: &attached.id,
            lease: &lease,
        };
        let mut invocation =
            args.invocation(script, &Keys::new(&self.settings.namespace, &attached.id));
        match self.run::<(String, i64, u64)>(&mut invocation).await {
            Some((state, generation, remaining)) => {
                // The reply is the shared state after the action, which may not be the one
                // asked for (a close refused for a lost lease, an open already superseded):
                // apply it like any news, rather than only note its generation, which would
                // make this instance skip that state when it arrives by message or flush.
                if let Some(b) = attached.breaker.upgrade() {
                    apply(
                        attached,
                        &*b,
                        SharedState::parse(&state),
                        generation,
                        remaining,
                    );
                }
                true
            }
            None => {
                // Kept for the next try, unless a newer lease came meanwhile.
                let mut slot = lock(&attached.lease);
                if slot.is_empty() {
                    *slot = lease;
                }
                false
            }
        }
    }

    /// Sends a breaker's pending transitions. Those Redis did not answer go back to wait for
    /// the next flush interval (newer ones still supersede them), so a trip made while Redis
    /// was unreachable reaches the fleet once it answers; meanwhile the shared state does not
    /// override it. Probe requests are not kept: one that Redis cannot answer lets the local
    /// breaker probe on its own at once.
    pub(super) async fn send_pending(
        &self,
        transition: &Script,
        probe: &Script,
        attached: &Attached,
    ) {
        let actions = lock(&attached.pending).take();
        let mut unsent = Vec::new();
        for (action, open_for) in actions {
            if action == Action::Probe {
                self.request_probe(probe, attached).await;
            } else if !self.share(transition, attached, action, open_for).await {
                unsent.push((action, open_for));
            }
        }
        if !unsent.is_empty() {
            lock(&attached.pending).restore(unsent);
        }
    }

    /// The open period ended here: probe if this instance wins the cluster's lease, otherwise
    /// stay open until the lease (or a newer open period) ends. If Redis cannot be asked, the
    /// local breaker probes on its own.
    pub(super) async fn request_probe(&self, script: &Script, attached: &Attached) {
        let Some(breaker) = attached.breaker.upgrade() else {
            return;
        };
        let b: &dyn StoredCircuit = &*breaker;
        let args = ProbeArgs {
            instance: &self.instance,
            lease_ms: script_ms(b.shared_policy().half_open_max_wait, 1),
        };
        let mut invocation =
            args.invocation(script, &Keys::new(&self.settings.namespace, &attached.id));
        let asked = *lock(&attached.generation);
        match self
            .run::<(String, u64, String, i64)>(&mut invocation)
            .await
        {
            Some((decision, wait_ms, lease, generation)) => {
                on_probe_reply(
                    attached,
                    b,
                    asked,
                    ProbeDecision::parse(&decision),
                    wait_ms,
                    lease,
                    generation,
                );
            }
            None => {
                b.grant_probes();
            }
        }
    }
}

/// Applies the cluster's answer to a request to probe, asked when the breaker had seen shared
/// generation `asked`. The answer can arrive after newer news (the prober's close, by pub/sub):
/// an answer made in an older generation than the breaker has seen since, or one for a
/// breaker that no longer waits for it, changes nothing.
pub(super) fn on_probe_reply(
    attached: &Attached,
    b: &dyn StoredCircuit,
    asked: i64,
    decision: ProbeDecision,
    wait_ms: u64,
    lease: String,
    generation: i64,
) {
    let stale = generation < (*lock(&attached.generation)).max(asked);
    match decision {
        ProbeDecision::Granted => {
            // Kept even if the breaker moved on meanwhile: its next shared transition frees
            // the lease, so others need not wait for it to expire.
            *lock(&attached.lease) = lease;
            b.grant_probes();
        }
        ProbeDecision::Wait if !stale => {
            // Look again after an open period at most, whatever the lease says.
            let wait = Duration::from_millis(wait_ms.max(1)).min(b.shared_policy().open_duration);
            b.defer_probe(wait);
        }
        ProbeDecision::Closed if !stale => b.apply_remote_state(CircuitState::Closed),
        ProbeDecision::ForcedOpen if !stale => b.apply_remote_state(CircuitState::ForcedOpen),
        ProbeDecision::Wait | ProbeDecision::Closed | ProbeDecision::ForcedOpen => {}
        ProbeDecision::Unknown => {
            b.grant_probes();
        }
    }
}

/// Applies shared state `generation` to a local breaker, once.
pub(super) fn apply(
    attached: &Attached,
    b: &dyn StoredCircuit,
    state: SharedState,
    generation: i64,
    remaining_ms: u64,
) {
    if !lock(&attached.pending).actions.is_empty() {
        // This instance decided something Redis has not heard yet (a breaker that tripped
        // before its first flush, say): the local news is newer, and Redis's answer to it
        // comes back once it is shared.
        return;
    }
    {
        let mut seen = lock(&attached.generation);
        if generation <= *seen {
            return;
        }
        *seen = generation;
    }
    let local = b.state();
    match state {
        // An open breaker is extended if the shared period ends later (no new transition).
        SharedState::Open if remaining_ms > 0 => {
            b.apply_remote_open(Duration::from_millis(remaining_ms));
        }
        SharedState::Closed if local != CircuitState::Closed => {
            b.apply_remote_state(CircuitState::Closed);
        }
        SharedState::ForcedOpen if local != CircuitState::ForcedOpen => {
            b.apply_remote_state(CircuitState::ForcedOpen);
        }
        SharedState::Disabled if local != CircuitState::Disabled => {
            b.apply_remote_state(CircuitState::Disabled);
        }
        _ => {}
    }
}

/// Flush scripts sent at once, per store.
pub(super) const FLUSHES_IN_FLIGHT: usize = 64;

/// Flushes every attached breaker on the interval, and shares local transitions as they come.
pub(super) async fn drive(
    inner: std::sync::Weak<Inner>,
    mut transitions: mpsc::UnboundedReceiver<Arc<Attached>>,
) {
    let flush = Script::new(protocol::FLUSH);
    let transition = Script::new(protocol::TRANSITION);
    let probe = Script::new(protocol::PROBE);
    let (interval, poll_every) = match inner.upgrade() {
        Some(inner) => {
            let s = &inner.settings;
            let every = s
                .poll_interval
                .as_nanos()
                .div_ceil(s.flush_interval.as_nanos());
            (
                s.flush_interval,
                u64::try_from(every).unwrap_or(u64::MAX).max(1),
            )
        }
        None => return,
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            // Local transitions first: a flush of many breakers must not hold them up.
            biased;
            message = transitions.recv() => {
                let Some(attached) = message else { return };
                let Some(inner) = inner.upgrade() else { return };
                inner.send_pending(&transition, &probe, &attached).await;
            }
            _ = ticker.tick() => {
                let Some(inner) = inner.upgrade() else { return };
                let poll = ticks.is_multiple_of(poll_every);
                ticks = ticks.wrapping_add(1);
                let all: Vec<Arc<Attached>> =
                    lock(&inner.attached).values().flatten().cloned().collect();
                // Transitions that Redis did not answer earlier, first.
                for attached in &all {
                    if !lock(&attached.pending).actions.is_empty() {
                        inner.send_pending(&transition, &probe, attached).await;
                    }
                }
                // Many scripts in flight at once on the multiplexed connection: a flush of
                // thousands of breakers takes a few dozen round trips, not thousands.
                let (inner, flush) = (&inner, &flush);
                let gone = futures_util::stream::iter(all)
                    .map(|attached| async move { !inner.flush(flush, &attached, poll).await })
                    .buffer_unordered(FLUSHES_IN_FLIGHT)
                    .fold(false, |gone, this| async move { gone | this })
                    .await;
                if gone {
                    let mut map = lock(&inner.attached);
                    for list in map.values_mut() {
                        list.retain(|a| a.breaker.upgrade().is_some());
                    }
                    map.retain(|_, list| !list.is_empty());
                }
                inner.rounds.fetch_add(1, std::sync::atomic::Ordering::Release);
                if inner.events.has_listeners() {
                    let (calls, transitions) = inner.pending();
                    inner.events.emit(|| {
                        Event::new(
                            &inner.settings.namespace,
                            EventKind::StorePending { calls, transitions },
                        )
                    });
                }
            }
        }
    }
}

/// Applies transitions published by any instance; reconnects with backoff when the
/// subscription drops. Ends, closing its connection, as soon as the store is dropped.
pub(super) async fn listen(
    inner: std::sync::Weak<Inner>,
    mut stopped: tokio::sync::watch::Receiver<()>,
) {
    let mut backoff = Duration::from_millis(50);
    let mut attempt = 0usize;
    loop {
        let (client, channel) = match inner.upgrade() {
            Some(inner) => {
                let clients = &inner.subscribers;
                (
                    clients[attempt % clients.len()].clone(),
                    inner.channel.clone(),
                )
            }
            None => return,
        };
        attempt = attempt.wrapping_add(1);
        let subscribed = async {
            let mut pubsub =
                tokio::time::timeout(Duration::from_secs(1), client.get_async_pubsub())
                    .await
                    .ok()?
                    .ok()?;
            pubsub.subscribe(&channel).await.ok()?;
            Some(pubsub)
        };
        let pubsub = tokio::select! {
            pubsub = subscribed => pubsub,
            _ = stopped.changed() => return,
        };
        if let Some(mut pubsub) = pubsub {
            backoff = Duration::from_millis(50);
            let mut messages = pubsub.on_message();
            loop {
                let message = tokio::select! {
                    message = messages.next() => message,
                    _ = stopped.changed() => return,
                };
                let Some(message) = message else { break };
                let Some(inner) = inner.upgrade() else { return };
                if let Ok(payload) = message.get_payload::<String>() {
                    on_message(&inner, &payload);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Applies one published transition ([`Message`]) to the breakers attached under its id; a
/// malformed message is ignored.
pub(super) fn on_message(inner: &Inner, payload: &str) {
    let Some(message) = Message::decode(payload) else {
        return;
    };
    let targets = lock(&inner.attached)
        .get(message.id)
        .cloned()
        .unwrap_or_default();
    for attached in targets {
        if let Some(b) = attached.breaker.upgrade() {
            apply(
                &attached,
                &*b,
                message.state,
                message.generation,
                message.remaining_ms,
            );
        }
    }
}
