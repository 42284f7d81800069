package netpath

import (
	"context"
	"net/netip"
)

// Resolver answers "which AS announces this address" from a table when it
// has one, and from Team Cymru's DNS when the table has no answer. Either
// may be nil. It is safe for concurrent use.
type Resolver struct {
	Table *Table
	DNS   *Cymru
}

// LookupAS returns the origin AS of addr. found is false for private,
// shared and unannounced addresses and for addresses nobody answers for;
// err is set only when the DNS service could not be asked (the table's
// silence is not an error).
func (r *Resolver) LookupAS(ctx context.Context, addr netip.Addr) (info ASInfo, found bool, err error) {
	if r == nil || IsPrivate(addr) {
		return ASInfo{}, false, nil
	}
	if info, ok := r.Table.Lookup(addr); ok {
		return info, true, nil
	}
	if r.DNS == nil {
		return ASInfo{}, false, nil
	}
	return r.DNS.Lookup(ctx, addr)
}
