package collector

import (
	"context"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/postgres"
)

func openPostgres(ctx context.Context, url string) (results.Store, error) {
	return postgres.Open(ctx, url)
}
