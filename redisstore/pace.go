package redisstore

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The fleet's pace is a hash at "{prefix}:{clientID}:{accountID}:pace":
//
//	rate       the pace, requests per second
//	ss         where slow start ends (0: not yet, slow start until the first cut)
//	changed    when the rate last changed (Redis time, Unix ms)
//	hold       no cut before this (Redis time, Unix ms)
//	congested  when a process last saw throttling (Redis time, Unix ms)
//
// It expires paceTTL after the last update or read. The times are Redis's
// own (TIME), so the processes' clocks do not matter.
//
// An additive step is proportional to the round it ends (the core grows
// by a share of the peak per 250 ms, for at most 1 s a round). Since the
// fleet raises once per fleet round, which is longer than one process's
// (it waits for paceCache and the next process's whole round), the script
// scales the step to the time since the fleet's last change (at most
// stepCap), so that the fleet grows as fast as one client would, not
// slower.
//
// A change reaches the other processes within paceCache (they reread the
// pace that often), so the script counts it as in force only from then:
// a cut holds further cuts for the hold the process asks (its round trip
// times two, at least roundMin) plus paceCache, and a raise needs a round
// that began at least paceCache after the last change and after the
// fleet's last throttling (a process sees only its own answers; a round in
// which another saw a 429 is not clean).

// paceOp is what a paceUpdate does.
type paceOp string

const (
	opRead      paceOp = "read"      // read the pace (create it when missing)
	opCut       paceOp = "cut"       // a process's controller cut its rate
	opRaise     paceOp = "raise"     // a process's controller raised its rate
	opCongested paceOp = "congested" // a process saw throttling (and did not cut)
)

// paceUpdate is one call on the fleet's pace.
type paceUpdate struct {
	op paceOp
	// rate is the process's rate (after its change): the fleet's pace
	// when Redis holds none.
	rate float64
	// factor is the change the process decided: new rate / old rate.
	factor float64
	// threshold is the process's slow-start threshold (after a cut: the
	// fleet's from then on); +Inf for none.
	threshold float64
	// round: for a cut, how long it holds further cuts; for a raise, how
	// long the round it rests on lasted (it is refused when the fleet's
	// pace changed during that round).
	round time.Duration
	// step: the raise is an additive step (the process was out of slow
	// start), whose size the script scales to the fleet's round.
	step bool
	// peak is the process's remembered peak before a raise, restored
	// when the fleet refuses it (not sent).
	peak float64
}

// paceState is the fleet's pace as a call left it.
type paceState struct {
	rate      float64
	threshold float64 // +Inf: slow start
	applied   bool    // the update was applied (always false for opRead)
}

// paceScript applies one paceUpdate; see the hash above. ARGV: op, rate,
// factor, threshold (0 = none), round (ms), ceiling (0 = none), floor,
// TTL (ms), lag (ms: paceCache), step ("1" when a raise is an additive
// step, not slow start), step cap (ms). It returns {rate, threshold, applied}
// (numbers as strings).
var paceScript = redis.NewScript(`
redis.replicate_commands()
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op = ARGV[1]
local round, lag = tonumber(ARGV[5]), tonumber(ARGV[9])
local ceiling, floor = tonumber(ARGV[6]), tonumber(ARGV[7])
local function clamp(r)
	if ceiling > 0 and r > ceiling then r = ceiling end
	if r < floor then r = floor end
	return r
end
local v = redis.call("HMGET", KEYS[1], "rate", "ss", "changed", "hold", "congested")
local rate, ss = tonumber(v[1]), tonumber(v[2]) or 0
local changed, hold, congested = tonumber(v[3]) or 0, tonumber(v[4]) or 0, tonumber(v[5]) or 0
local applied = 0
if op == "cut" or op == "congested" then
	congested = now
end
if not rate then
	-- No pace yet: the caller's is the fleet's.
	rate, ss, changed, hold = clamp(tonumber(ARGV[2])), tonumber(ARGV[4]), now, 0
	if op == "cut" then hold = now + round + lag end
	if op == "cut" or op == "raise" then applied = 1 end
elseif op == "cut" then
	-- Once per round: the first process to see the congestion cuts for
	-- the fleet; the others, seeing the same, take its cut.
	if now >= hold then
		rate = clamp(rate * tonumber(ARGV[3]))
		ss = math.max(rate, tonumber(ARGV[4]))
		changed, hold, applied = now, now + round + lag, 1
	end
elseif op == "raise" then
	-- Only on a clean round that ran wholly at the current pace.
	local since = now - math.max(changed, congested)
	if now - round >= math.max(changed + lag, congested) then
		local f = tonumber(ARGV[3])
		if ARGV[10] == "1" and round > 0 then
			-- An additive step grows with its round; the fleet's round
			-- (since its last change) is longer than the process's.
			local cap = tonumber(ARGV[11])
			local scale = math.min(since, cap) / math.min(round, cap)
			if scale > 1 then f = 1 + (f - 1) * scale end
		end
		rate = clamp(rate * f)
		changed, applied = now, 1
	end
end
redis.call("HSET", KEYS[1], "rate", tostring(rate), "ss", tostring(ss), "changed", tostring(changed),
	"hold", tostring(hold), "congested", tostring(congested))
redis.call("PEXPIRE", KEYS[1], ARGV[8])
return {tostring(rate), tostring(ss), applied}
`)

// runPaceUpdate runs u on the pace at key, for a fleet whose ceiling
// (+Inf for none) and floor are given.
func runPaceUpdate(ctx context.Context, rdb redis.Scripter, key string, u paceUpdate, ceiling, floor float64) (paceState, error) {
	ss := u.threshold
	if math.IsInf(ss, 1) || !(ss > 0) {
		ss = 0
	}
	ceil := ceiling
	if math.IsInf(ceil, 1) {
		ceil = 0
	}
	factor := u.factor
	if !(factor > 0) {
		factor = 1
	}
	step := "0"
	if u.step {
		step = "1"
	}
	res, err := paceScript.Run(ctx, rdb, []string{key}, string(u.op), num(u.rate), num(factor), num(ss),
		u.round.Milliseconds(), num(ceil), num(floor), paceTTL.Milliseconds(), paceCache.Milliseconds(), step, stepCap.Milliseconds()).Slice()
	if err != nil {
		return paceState{}, err
	}
	if len(res) != 3 {
		return paceState{}, fmt.Errorf("pace script: unexpected answer %v", res)
	}
	var st paceState
	rs, _ := res[0].(string)
	ts, _ := res[1].(string)
	if st.rate, err = strconv.ParseFloat(rs, 64); err != nil || !(st.rate > 0) {
		return paceState{}, fmt.Errorf("pace script: bad rate %q", rs)
	}
	if st.threshold, err = strconv.ParseFloat(ts, 64); err != nil {
		return paceState{}, fmt.Errorf("pace script: bad threshold %q", ts)
	}
	if !(st.threshold > 0) {
		st.threshold = math.Inf(1)
	}
	applied, _ := res[2].(int64)
	st.applied = applied == 1
	return st, nil
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// heartbeatScript marks ARGV[1] live now in the sorted set KEYS[1], drops
// the members not seen for ARGV[2] ms and returns how many remain.
var heartbeatScript = redis.NewScript(`
redis.replicate_commands()
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZADD", KEYS[1], now, ARGV[1])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now - tonumber(ARGV[2]))
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return redis.call("ZCARD", KEYS[1])
`)

// heartbeat marks this process live and returns how many processes are.
func (l *Limiter) heartbeat(ctx context.Context) (int, error) {
	cctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	n, err := heartbeatScript.Run(cctx, l.rdb, []string{l.liveKey}, l.id, liveWindow.Milliseconds()).Int()
	if err != nil {
		return 0, err
	}
	return n, nil
}
