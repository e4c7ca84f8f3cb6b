package otelsfmc_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/otelsfmc"
)

// documentedMetrics are the metrics the package doc and the README list.
var documentedMetrics = []string{
	"http.client.request.duration",
	"sfmc.client.blocked",
	"sfmc.client.blocks",
	"sfmc.client.cooldowns",
	"sfmc.client.rate",
	"sfmc.client.retries",
	"sfmc.token.duration",
	"sfmc.token.requests",
	"sfmc.upserter.concurrency",
	"sfmc.upserter.in_flight",
	"sfmc.upserter.outcome.latency",
	"sfmc.upserter.outcomes",
	"sfmc.upserter.queue.depth",
}

// Every metric the hooks record, with every attribute key and unit, is in
// the package doc and in the README's "Metrics and tracing" section; and
// none is documented that is not recorded.
func TestMetricsAreDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err, "the repository's README (this test runs in the repository)")
	section := string(readme)
	i := strings.Index(section, "## Metrics and tracing")
	require.GreaterOrEqual(t, i, 0, "README has a Metrics and tracing section")
	section = section[i:]
	section = section[:strings.Index(section[3:], "\n## ")+3]

	tm := newTelemetry(t)
	hooks, err := otelsfmc.Hooks(tm.options()...)
	require.NoError(t, err)
	ctx := context.Background()
	for _, n := range []int{1, 2} {
		a := sfmc.Attempt{Method: "PATCH", Route: "/contacts/v1/contacts", Host: "mc.rest.marketingcloudapis.com", Number: n}
		hooks.AttemptDone(hooks.AttemptStart(ctx, a), a, sfmc.AttemptResult{StatusCode: 429, ErrorCode: 50100, Class: "throttled", Duration: time.Millisecond})
	}
	hooks.Pace(sfmc.PaceEvent{Rate: 10, Cooldown: time.Second})
	hooks.Pace(sfmc.PaceEvent{Rate: 5, Blocked: true})
	hooks.Token(ctx, sfmc.TokenEvent{Err: errors.New("down")})
	hooks.Outcome(ctx, sfmc.OutcomeEvent{Outcome: sfmc.Outcome{Err: sfmc.ErrClosed, Coalesced: true}})
	c, err := sfmc.NewClient(sfmc.Config{Subdomain: "mctest", ClientID: "id", ClientSecret: "secret"})
	require.NoError(t, err)
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{})
	require.NoError(t, err)
	reg, err := otelsfmc.ObserveUpserter(u, tm.options()...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Unregister(); _ = u.Close(ctx) })

	// In doc.go a name starts a line of a table ("\tname  "), in the
	// README it is code ("`name`").
	inDoc := func(what string) bool { return strings.Contains(string(doc), "\t"+what+" ") }
	inReadme := func(what string) bool { return strings.Contains(section, "`"+what+"`") }
	ms := tm.collect(t)
	var names []string
	for name, m := range ms {
		names = append(names, name)
		assert.True(t, inDoc(name), "doc.go documents %s", name)
		assert.True(t, inReadme(name), "README documents %s", name)
		assert.Contains(t, line(string(doc), "//\t"+name+" "), ", "+m.Unit+" ", "doc.go gives %s's unit", name)
		row := line(section, "| `"+name+"` |")
		assert.True(t, strings.Contains(row, ", `"+m.Unit+"` |") || strings.Contains(row, ", "+m.Unit+" |"),
			"README gives %s's unit %s: %s", name, m.Unit, row)
		for _, key := range pointKeys(m) {
			assert.True(t, strings.Contains(string(doc), key), "doc.go documents %s's attribute %s", name, key)
			assert.True(t, inReadme(key), "README documents %s's attribute %s", name, key)
		}
	}
	slices.Sort(names)
	assert.Equal(t, documentedMetrics, names, "the metrics recorded are the ones documented")
	spans := tm.spans.Ended()
	require.NotEmpty(t, spans)
	for _, s := range spans {
		for _, kv := range s.Attributes() {
			assert.True(t, inDoc(string(kv.Key)), "doc.go documents the span attribute %s", kv.Key)
			assert.True(t, inReadme(string(kv.Key)), "README documents the span attribute %s", kv.Key)
		}
	}
}

// pointKeys are the attribute keys of m's data points.
func pointKeys(m metricdata.Metrics) []string {
	var keys []string
	for _, enc := range pointAttrs(m) {
		for _, kv := range strings.Split(enc, ",") {
			if k, _, ok := strings.Cut(kv, "="); ok && !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// line returns the first line of text that starts with prefix ("" if none).
func line(text, prefix string) string {
	for l := range strings.Lines(text) {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
