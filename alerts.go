package sfmc

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// AlertKind names the condition of an Alert.
type AlertKind string

// Alert kinds.
const (
	// AlertInvalidCredentials: the token endpoint refused the client id or
	// secret. The Upserter stops (see UpserterConfig.OnAlert).
	AlertInvalidCredentials AlertKind = "invalid_credentials"
	// AlertIPNotAllowlisted: the token endpoint refused the caller's IP
	// address. The Upserter stops.
	AlertIPNotAllowlisted AlertKind = "ip_not_allowlisted"
	// AlertUnauthorized: REST answered 401 to a freshly fetched token too:
	// the API integration is rejected (revoked, disabled, or without the
	// scopes the route needs) and no new token helps. The Upserter stops;
	// Err matches ErrUnauthorized.
	AlertUnauthorized AlertKind = "unauthorized"
	// AlertBlocked: SFMC answered 429 with errorcode 50200 ("Your requests
	// are temporarily blocked."). The client pauses and probes (see the
	// policy in retry.go); contacts wait. Raised once per block episode.
	// With UpserterConfig.FailOnBlock the Upserter stops instead.
	AlertBlocked AlertKind = "blocked"
	// AlertFailureRatio: more than FailureRatio of the last FailureWindow
	// outcomes failed. Raised again only after the ratio fell back below
	// half the threshold.
	AlertFailureRatio AlertKind = "failure_ratio"
	// AlertSharedStateUnavailable: the client's shared state (fleet mode:
	// TokenStore, shared Limiter or Cooldown) failed and the client went
	// on with local state. Contacts are still sent, but the fleet may no
	// longer share one token and one rate. Raised once per Upserter (also
	// when the failure happened before NewUpserter); Err matches
	// ErrSharedStateUnavailable.
	AlertSharedStateUnavailable AlertKind = "shared_state_unavailable"
	// AlertSentStoreUnavailable: UpserterConfig.SentStore failed. The
	// contacts it cannot check are sent whole (never skipped on doubt),
	// and what SFMC confirms may not be remembered (so it is sent again
	// next time); the store may also keep a value SFMC no longer holds
	// (a forget that failed), so resend everything next time
	// (UpserterConfig.ResendAll). Raised once per Upserter.
	AlertSentStoreUnavailable AlertKind = "sent_store_unavailable"
)

// Alert is a condition that needs a person: see UpserterConfig.OnAlert.
type Alert struct {
	Kind    AlertKind
	Message string
	Err     error // the error that raised it, when there is one
}

// stopCondition reports whether a failed attempt of class k with error err
// stops the Upserter (no retry of any contact can cure it), and the alert
// it raises. This is the one place that says what stops an Upserter.
func stopCondition(k answerClass, err error, failOnBlock bool) (AlertKind, bool) {
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		return AlertInvalidCredentials, true
	case errors.Is(err, ErrIPNotAllowlisted):
		return AlertIPNotAllowlisted, true
	case k == classRejected:
		return AlertUnauthorized, true
	case k == classBlocked && failOnBlock:
		return AlertBlocked, true
	}
	return "", false
}

// alertTracker raises an Upserter's alerts: each kind once (AlertBlocked
// once per block episode, AlertFailureRatio again after the ratio has
// recovered), and keeps the failure-ratio window.
type alertTracker struct {
	onAlert   func(Alert)
	logger    *slog.Logger
	threshold float64

	mu      sync.Mutex
	raised  map[AlertKind]uint64 // kind -> episode raised for (1 for kinds without episodes)
	window  []bool
	pos, n  int
	bad     int
	ratioOn bool
}

func newAlertTracker(onAlert func(Alert), logger *slog.Logger, window int, threshold float64) *alertTracker {
	return &alertTracker{onAlert: onAlert, logger: logger, threshold: threshold,
		raised: map[AlertKind]uint64{}, window: make([]bool, window)}
}

// raise sends a once per kind, or once per episode (episode > 0) for kinds
// that have episodes. It reports whether it sent it.
func (t *alertTracker) raise(a Alert, episode uint64) bool {
	if episode == 0 {
		episode = 1
	}
	t.mu.Lock()
	if t.raised[a.Kind] >= episode {
		t.mu.Unlock()
		return false
	}
	t.raised[a.Kind] = episode
	t.mu.Unlock()
	t.send(a)
	return true
}

func (t *alertTracker) send(a Alert) {
	t.logger.Warn("sfmc: Upserter alert", slog.String("kind", string(a.Kind)), slog.String("message", a.Message))
	if t.onAlert == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			t.logger.Error("sfmc: Upserter OnAlert panicked", slog.Any("panic", r))
		}
	}()
	invokeCallback(func() { t.onAlert(a) })
}

// outcome feeds the failure-ratio window.
func (t *alertTracker) outcome(failed bool) {
	t.mu.Lock()
	if t.n == len(t.window) {
		if t.window[t.pos] {
			t.bad--
		}
	} else {
		t.n++
	}
	t.window[t.pos] = failed
	if failed {
		t.bad++
	}
	t.pos = (t.pos + 1) % len(t.window)
	ratio := float64(t.bad) / float64(len(t.window))
	raise := t.n == len(t.window) && ratio > t.threshold && !t.ratioOn
	if raise {
		t.ratioOn = true
	} else if t.ratioOn && ratio < t.threshold/2 {
		t.ratioOn = false
	}
	t.mu.Unlock()
	if raise {
		t.send(Alert{Kind: AlertFailureRatio, Message: fmt.Sprintf("%.0f%% of the last %d contacts failed", ratio*100, len(t.window))})
	}
}
