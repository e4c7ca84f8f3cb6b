package sfmctest

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync/atomic"
)

// idGen makes unique, UUID-shaped identifiers cheaply: a random per-server
// prefix and an atomic counter.
type idGen struct {
	prefix uint64
	n      atomic.Uint64
}

func newIDGen() *idGen {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &idGen{prefix: binary.BigEndian.Uint64(b[:])}
}

func (g *idGen) uuid() string {
	n := g.n.Add(1)
	p := g.prefix
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x",
		uint32(p>>32), uint16(p>>16), uint16(p)&0xfff, uint16(n>>48)&0xfff, n&0xffffffffffff)
}

// randomToken returns an opaque random access token.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, hexdigits[c>>4], hexdigits[c&0xf])
	}
	return string(out)
}
