// Package all assembles the registry of every check kind. Callers build a
// registry with New instead of relying on package-level registration.
package all

import (
	"github.com/picketnet/picket/checks"
)

// New returns a registry of every check kind Picket knows.
func New() *checks.Registry {
	return checks.NewRegistry(
	// Each kind adds itself here: http.Kind{}, dns.Kind{}, ...
	)
}
