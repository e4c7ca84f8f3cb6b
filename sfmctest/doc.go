// Package sfmctest provides an embedded Salesforce Marketing Cloud tenant
// simulator for tests, in the style of net/http/httptest.
//
// NewServer starts an HTTP server on a loopback port that serves the OAuth
// token endpoint and the Contacts REST routes the sfmc package uses.
// ClientOptions and Config point an sfmc.Client at it:
//
//	srv := sfmctest.NewServer()
//	defer srv.Close()
//	client, err := sfmc.NewClient(srv.Config(), srv.ClientOptions()...)
//
// NewServer panics when it cannot listen, like httptest.NewServer;
// StartServer returns the error instead (useful with WithAddr).
//
// # Routes
//
//   - POST /v2/token: JSON or application/x-www-form-urlencoded body with
//     grant_type, client_id, client_secret, account_id (string or number)
//     and scope. Answers an access token, token_type "Bearer", expires_in,
//     scope (the requested one, or "list_and_subscribers_read
//     list_and_subscribers_write") and rest_instance_url/soap_instance_url
//     equal to URL() + "/".
//   - PATCH /contacts/v1/contacts: creates or updates a contact.
//   - POST /contacts/v1/contacts: creates a contact; an existing key gives
//     HTTP 200 with operationStatus "FAIL" and result code ContactKeyExists.
//   - GET /contacts/v1/attributeSetDefinitions?$page=N&$pageSize=M and
//     GET /contacts/v1/attributeSetDefinitions/{id}.
//   - POST /contacts/v1/addresses/email/search.
//   - POST /contacts/v1/contacts/actions/delete?type=keys (or type=ids) and
//     GET /contacts/v1/contacts/actions/delete/status?operationID=N.
//
// Every route but /v2/token needs "Authorization: Bearer <token>" with a
// token issued by the server; a missing, unknown, expired or revoked token
// gets 401 {"message":"Not Authorized","errorcode":0,...}.
//
// Contact writes are validated against the attribute-set definitions. An
// unknown set or attribute, a text value longer than the attribute's
// Length, or a value of the wrong type gives HTTP 200 with operationStatus
// "FAIL", hasErrors true, rowsAffected 0 and one ResultMessage per problem
// (with WithUnknownAttributeBadRequest an unknown set or attribute gives
// HTTP 400 instead); nothing is stored. The tenant refuses, by data type:
// for Number, LongNumber and Byte anything but a whole number in digits
// (JSON number or string) within -2147483648..2147483647, the int64 range
// and 0..255; for Decimal anything but a number with at most Scale digits
// after the point and Length-Scale before it; for Boolean anything but
// true/false (bool, or string in any case) and 1/0; for Date anything but
// a string in ISO 8601 (2024-05-31, 2024-05-31T13:45:00Z, ...) or US
// (5/31/2024, 5/31/2024 1:45 PM) form within years 1753..9999; for
// EmailAddress anything but one plain address local@domain with a dotted
// domain; for Phone anything but 1 to 15 digits with optional spaces,
// ( ) - . and a leading +. Text, EmailAddress and Phone values (and
// numbers and booleans sent to Text) must fit a positive Length in
// characters; Length -1 is unlimited.
//
// Two sets are seeded as real tenants define them (attribute flags as
// recorded there): "Email Addresses", read-only at set level, with List ID
// and Member ID (Number; primary key, hidden, read-only, system-defined),
// Email Address (EmailAddress, no length; primary key, system-defined, not
// updateable) and HTML Enabled (Boolean, system-defined); and "Email
// Demographics" with Contacts ID (LongNumber; primary key, system-defined),
// First Name Text(100) and Last Name Text(100). Definitions report
// isPrimaryKey, isSystemDefined, isHidden, isReadOnly, isUpdateable,
// isNullable, length (-1 for unlimited, omitted when none) and scale for
// attributes, and isReadOnly, isSystemDefined, isHidden, canAddValues and
// canChangeValues for sets.
//
// # Request processing order
//
// Every request is counted and logged. REST requests (every path but
// /v2/token) then go through, in order: the 50200 block (whose triggers
// see the request as it arrives), latency, the tenant rate limit, injected
// faults, per-key faults, authentication, and the route handler. So a
// throttled or faulted request is answered even without a valid token, and
// an unknown path without a token gets 401 rather than 404.
//
// # Options
//
//   - WithCredentials(id, secret): accepted credentials (default
//     "sfmctest-client" / "sfmctest-secret").
//   - WithAccountID(mid): a token request with a different non-empty
//     account_id is refused with 401 invalid_client.
//   - WithTokenTTL(d): token lifetime (default 1080s); tokens really expire,
//     even sub-second ones; expires_in is d rounded up to whole seconds, at
//     least 1.
//   - WithPageSizeCap(n): largest $pageSize honoured (default 2000).
//   - WithAttributes(set, attrs...): adds attributes, creating the set.
//   - WithLeadingSets(n): n filler sets listed before the seeded ones.
//   - WithListWithoutAttributes(): the definition list omits each set's
//     attributes array (GET by id keeps them), as one real integration
//     reported of its tenant.
//   - WithUnknownAttributeBadRequest(): a contact write naming an unknown
//     set or attribute is answered HTTP 400 with a body holding only
//     resultMessages ({resultType, resultClass, resultCode, message};
//     resultCode CustomObjectNotFound for a set, ValueDefinitionNotFound
//     for an attribute), the shape real tenants answer some refusals with.
//   - WithLatency(d): delay before each REST request is processed.
//   - WithRateLimit(perSecond, burst): tenant token bucket; past it 429 with
//     errorcode 50100 and Retry-After (the time until the bucket has a token:
//     whole seconds rounded up from one second on, a decimal fraction such as
//     "0.005" below; SFMC itself only sends whole seconds).
//   - WithFaultRate(f, fraction): a seeded fraction of REST requests fail.
//   - WithSeed(seed): seed of the fault randomness (default 1).
//   - WithRetryAfter(d): Retry-After of Fault429 and Fault503 (default 1s;
//     below one second it is sent as a decimal fraction, which SFMC never
//     does, so that tests need not wait whole seconds).
//   - WithRequestLogSize(n): requests kept by Requests (default 10000; 0
//     disables the log).
//   - WithAddr(addr): listen on a fixed address instead of a random port.
//   - WithIPAllowlistRejection(): the token endpoint answers 400
//     invalid_grant with SFMC's IP-allowlist description.
//   - WithKeyFault(key, f): every write of the contact key fails with f (a
//     contact that always fails, whatever the others do).
//   - WithBlockAbove(n, d): SFMC's 50200 block, for d, whenever more than
//     n REST requests are in progress at once; WithBlockAt(n, d): from the
//     n-th REST request on. During a block every REST request answers 429
//     with errorcode 50200 and no Retry-After; Stats.Blocks counts them.
//
// The matching methods (FailNext, SetFaultRate, FailKey, Block,
// SetLatency, SetRateLimit — a tenant limit may change mid-run —,
// SetTokenTTL, RejectIP, RevokeTokens, AddAttribute) change the behaviour
// of a running server. Contact, Contacts, Requests and Stats inspect it;
// Reset clears its data between test cases.
//
// # Faults
//
// Fault429 (429, errorcode 50100, Retry-After), FaultBlocked (429,
// errorcode 50200, no Retry-After), Fault500, Fault503 (503, errorcode
// 50300, Retry-After), FaultDrop (the connection is closed without an
// answer before the request is applied), FaultDropAfterWrite (the request
// is applied, then the connection is closed without an answer), Fault401
// (401 Not Authorized whatever the token: an integration REST refuses
// although its tokens are issued) and Fault501 (501, a 5xx no retry
// cures). Each can be injected for the next N requests (FailNext), for a
// seeded fraction of them (WithFaultRate, SetFaultRate) or for every write
// of one contact key (WithKeyFault, FailKey).
//
// # Known differences from real SFMC
//
//   - One host serves both the auth and the REST routes, over plain HTTP on
//     loopback; rest_instance_url has the form "http://127.0.0.1:PORT/".
//   - Access tokens are opaque random strings, not JWT-like 512-character
//     tokens. A token is valid for exactly its TTL; real SFMC tokens live
//     about two minutes longer than expires_in.
//   - Scopes are not enforced; every token may call every route.
//   - Unknown routes answer 404 {"message":"Not Found","errorcode":30003}
//     (real SFMC may answer 596 "Service Not Found"). A wrong method on a
//     known route answers 400 errorcode 30001. Paths are case-sensitive; a
//     trailing slash is ignored.
//   - The token endpoint answers a non-POST request, a malformed body or a
//     missing grant_type with 400 invalid_request; an unknown grant_type
//     with 400 unsupported_grant_type; the IP-allowlist rejection with 400
//     invalid_grant (SFMC does not document these statuses). The IP check
//     runs after the credentials are accepted.
//   - The resultMessages entries of a failed contact write (HTTP 200 FAIL)
//     use the simulator's own shape (ResultMessage) and result codes
//     (AttributeSetNotFound, AttributeNotFound, ValueTooLong, ...); SFMC
//     does not document them and their real values are unknown. The HTTP
//     400 answer of WithUnknownAttributeBadRequest has the recorded shape;
//     of its codes only CustomObjectNotFound was seen on a real tenant.
//     Which refusals real SFMC answers with 200 FAIL and which with 400 is
//     not known.
//   - Contact writes do not enforce SFMC's rules about required sets
//     (Email Addresses, HTML Enabled with Email Address, ...) or the limit
//     of 200 attributes in Email Demographics; an empty attributeSets is
//     accepted. Attribute-set and attribute names match exactly
//     (case-sensitive). The attribute and set flags (isPrimaryKey,
//     isReadOnly, isHidden, ...) are reported but not enforced: a write to
//     Contacts ID or List ID is stored like any other. The data-type rules
//     above are the simulator's model; real tenants may accept more
//     spellings (of booleans, dates, phone numbers) or fewer. JSON null is
//     accepted and stored as nil. A contactID without contactKey updates
//     the contact with that id (ContactNotFound when there is none), and
//     Contacts ID is not filled in with it.
//   - $page and $pageSize (names matched case-insensitively) must be whole
//     numbers of at least 1, otherwise 400 errorcode 10005; a page past the
//     end answers 200 with no items. Definitions carry the documented keys
//     but no relationships, data-retention or application properties; real
//     Email Demographics sets hold more system attributes than Contacts
//     ID, with Text lengths from 50 to 256.
//   - Email search matches the stored "Email Addresses"."Email Address"
//     case-insensitively, oldest contact first.
//   - Deletes are applied at once; the operation is "Completed"
//     immediately, there is no suppression period.
//   - Request bodies larger than MaxBodyBytes are answered 413.
//   - Reset keeps the issued tokens and the configuration (credentials,
//     definitions, TTL, latency, rate limit, IP rejection).
package sfmctest
