package postgres

import (
	"testing"

	"github.com/picketnet/picket/results/storetest"
)

func TestNELReports(t *testing.T) {
	s := open(t)
	defer s.Close()
	storetest.RunNEL(t, s)
}
