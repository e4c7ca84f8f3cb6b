package sfmctest

import "time"

// Default values of the server options.
const (
	// DefaultClientID is the client id accepted when WithCredentials is not used.
	DefaultClientID = "sfmctest-client"
	// DefaultClientSecret is the client secret accepted when WithCredentials is not used.
	DefaultClientSecret = "sfmctest-secret"
	// DefaultTokenTTL is the lifetime of an access token when WithTokenTTL is not used.
	DefaultTokenTTL = 1080 * time.Second
	// DefaultPageSizeCap is the largest $pageSize honoured when WithPageSizeCap is not used.
	DefaultPageSizeCap = 2000
	// DefaultRequestLogSize is the number of requests kept by the request log
	// when WithRequestLogSize is not used.
	DefaultRequestLogSize = 10000
	// DefaultRetryAfter is the Retry-After of injected 429/50100 and 503/50300
	// faults when WithRetryAfter is not used.
	DefaultRetryAfter = time.Second
	// MaxBodyBytes is the largest request body the server reads; larger
	// bodies are answered with HTTP 413.
	MaxBodyBytes = 4 << 20
)

// ServerOption configures a Server created by NewServer or StartServer.
// Options are applied in order; an option given a value out of range is
// ignored (the default stays), as documented on each option.
type ServerOption func(*serverConfig)

type attrSpec struct {
	set   string
	attrs []Attribute
}

type faultRate struct {
	fault    Fault
	fraction float64
}

type serverConfig struct {
	clientID, clientSecret string
	accountID              string
	tokenTTL               time.Duration
	pageSizeCap            int
	attrs                  []attrSpec
	leadingSets            int
	listWithoutAttrs       bool // WithListWithoutAttributes
	unknownAttr400         bool // WithUnknownAttributeBadRequest
	latency                time.Duration
	ratePerSecond          float64
	rateBurst              int
	faultRates             []faultRate
	seed                   int64
	retryAfter             time.Duration
	logSize                int
	addr                   string
	rejectIP               bool
	keyFaults              []keyFault
	blockAbove             int
	blockAt                int64
	blockDur               time.Duration
}

func defaultConfig() serverConfig {
	return serverConfig{
		clientID:     DefaultClientID,
		clientSecret: DefaultClientSecret,
		tokenTTL:     DefaultTokenTTL,
		pageSizeCap:  DefaultPageSizeCap,
		seed:         1,
		retryAfter:   DefaultRetryAfter,
		logSize:      DefaultRequestLogSize,
	}
}

// WithCredentials sets the client id and secret the token endpoint accepts.
// Empty values are ignored.
func WithCredentials(clientID, clientSecret string) ServerOption {
	return func(c *serverConfig) {
		if clientID != "" {
			c.clientID = clientID
		}
		if clientSecret != "" {
			c.clientSecret = clientSecret
		}
	}
}

// WithAccountID sets the MID of the simulated business unit. A token
// request carrying a different non-empty account_id is then refused with
// 401 invalid_client. Without this option every account_id is accepted.
func WithAccountID(mid string) ServerOption {
	return func(c *serverConfig) { c.accountID = mid }
}

// WithTokenTTL sets the lifetime of issued access tokens (default 1080s).
// Tokens really expire after d, even when d is shorter than a second;
// expires_in is d rounded up to whole seconds, at least 1. Values <= 0 are
// ignored.
func WithTokenTTL(d time.Duration) ServerOption {
	return func(c *serverConfig) {
		if d > 0 {
			c.tokenTTL = d
		}
	}
}

// WithPageSizeCap sets the largest $pageSize the attribute-set definition
// list honours (default 2000); larger requested sizes are lowered to it.
// Values < 1 are ignored.
func WithPageSizeCap(n int) ServerOption {
	return func(c *serverConfig) {
		if n >= 1 {
			c.pageSizeCap = n
		}
	}
}

// WithAttributes adds attributes to the attribute set named set, creating
// the set (after the seeded ones) if it does not exist. An attribute whose
// name already exists in the set replaces the existing definition.
func WithAttributes(set string, attrs ...Attribute) ServerOption {
	return func(c *serverConfig) {
		c.attrs = append(c.attrs, attrSpec{set: set, attrs: append([]Attribute(nil), attrs...)})
	}
}

// WithLeadingSets adds n filler attribute sets, named "Filler Set 0001",
// "Filler Set 0002", ..., each with two Text attributes, listed before the
// seeded sets, so that Email Demographics can be pushed past the first page
// of the definition list. Values < 1 are ignored.
func WithLeadingSets(n int) ServerOption {
	return func(c *serverConfig) {
		if n >= 1 {
			c.leadingSets = n
		}
	}
}

// WithListWithoutAttributes makes the attribute-set definition list omit
// each set's attributes array, as one real integration reported of its
// tenant; GET /contacts/v1/attributeSetDefinitions/{id} still carries the
// attributes.
func WithListWithoutAttributes() ServerOption {
	return func(c *serverConfig) { c.listWithoutAttrs = true }
}

// WithUnknownAttributeBadRequest makes a contact write that names an
// unknown attribute set or attribute answer HTTP 400 with a body that holds
// only resultMessages (items {resultType, resultClass, resultCode,
// message}), as real tenants answer some refused requests, instead of HTTP
// 200 with operationStatus "FAIL". The resultCode of an unknown set is
// CustomObjectNotFound (a code seen in a recorded answer); that of an
// unknown attribute, ValueDefinitionNotFound, is the simulator's guess.
func WithUnknownAttributeBadRequest() ServerOption {
	return func(c *serverConfig) { c.unknownAttr400 = true }
}

// WithLatency delays every REST request by d before it is processed.
// Values < 0 are ignored.
func WithLatency(d time.Duration) ServerOption {
	return func(c *serverConfig) {
		if d >= 0 {
			c.latency = d
		}
	}
}

// WithRateLimit limits REST requests to perSecond requests per second with
// the given burst (a token bucket for the whole tenant). Requests past the
// limit are answered 429 with errorcode 50100 and Retry-After. perSecond <= 0
// means no limit; a burst < 1 is taken as 1.
func WithRateLimit(perSecond float64, burst int) ServerOption {
	return func(c *serverConfig) {
		c.ratePerSecond = perSecond
		c.rateBurst = burst
	}
}

// WithFaultRate makes the given fraction (0 to 1) of REST requests fail with
// f. The choice is pseudo-random and deterministic for a seed (WithSeed).
// Several faults may be given; their fractions add up (capped at 1).
func WithFaultRate(f Fault, fraction float64) ServerOption {
	return func(c *serverConfig) {
		c.faultRates = append(c.faultRates, faultRate{fault: f, fraction: fraction})
	}
}

// WithSeed sets the seed of the fault randomness (default 1). The same seed
// and the same sequence of requests give the same faults.
func WithSeed(seed int64) ServerOption {
	return func(c *serverConfig) { c.seed = seed }
}

// WithRetryAfter sets the Retry-After of injected Fault429 and Fault503
// answers (default 1s). The header carries whole seconds rounded up, or a
// decimal fraction for waits under a second (which SFMC never sends; it
// keeps tests fast); the body's retryAfter the same number. Values < 0 are
// ignored.
func WithRetryAfter(d time.Duration) ServerOption {
	return func(c *serverConfig) {
		if d >= 0 {
			c.retryAfter = d
		}
	}
}

// WithRequestLogSize sets how many of the most recent requests Requests
// returns (default 10000). 0 disables the log; values < 0 are ignored.
func WithRequestLogSize(n int) ServerOption {
	return func(c *serverConfig) {
		if n >= 0 {
			c.logSize = n
		}
	}
}

// WithAddr makes the server listen on addr (for example "127.0.0.1:8080")
// instead of a random loopback port.
func WithAddr(addr string) ServerOption {
	return func(c *serverConfig) { c.addr = addr }
}

// WithIPAllowlistRejection makes the token endpoint refuse every request
// with 400 invalid_grant and the IP-allowlist description, as if the
// caller's IP address were not allowlisted. RejectIP toggles it later.
func WithIPAllowlistRejection() ServerOption {
	return func(c *serverConfig) { c.rejectIP = true }
}
