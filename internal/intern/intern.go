package intern

// Strings hands out one string per distinct value. The zero value keeps
// every value; Bounded keeps at most a number of them, so that input
// made of distinct values (a hostile batch) cannot grow it without end.
type Strings struct {
	m    map[string]string
	max  int // 0: no bound
	last [MaxFields]string
}

// MaxFields is the number of fields that Field tells apart.
const MaxFields = 16

// Bounded returns Strings that keep at most max values; later values are
// returned as new strings each time.
func Bounded(max int) *Strings { return &Strings{max: max} }

// Of returns b as a string: the copy kept from an earlier call if there
// is one.
func (s *Strings) Of(b []byte) string {
	if v, ok := s.m[string(b)]; ok {
		return v
	}
	v := string(b)
	if s.m == nil {
		s.m = make(map[string]string, 64)
	}
	if s.max == 0 || len(s.m) < s.max {
		s.m[v] = v
	}
	return v
}

// Field is Of for the value of field f (0 ≤ f < MaxFields) of one record
// among many. Records in a row mostly repeat the team, vantage or region
// of the one before, and comparing with the field's last value is
// cheaper than looking the value up.
func (s *Strings) Field(f int, b []byte) string {
	if s.last[f] == string(b) {
		return s.last[f]
	}
	v := s.Of(b)
	s.last[f] = v
	return v
}
