package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picketnet/picket/results"
)

// Network Error Logging reports (package nel): one row per report, only
// the client's network, never its address. Reports are few beside probe
// results, so the table is not partitioned; retention deletes by the
// occurred_at index.

// nelMigration creates the NEL table; it is appended to migrations.
const nelMigration = `
CREATE TABLE nel_reports (
	occurred_at       timestamptz      NOT NULL,
	received_at       timestamptz      NOT NULL,
	team              text             NOT NULL,
	endpoint          text             NOT NULL,
	url               text             NOT NULL,
	phase             text             NOT NULL,
	type              text             NOT NULL,
	sampling_fraction double precision NOT NULL,
	elapsed_ms        bigint           NOT NULL,
	server_ip         text             NOT NULL,
	protocol          text             NOT NULL,
	method            text             NOT NULL,
	status_code       integer          NOT NULL,
	client_asn        bigint           NOT NULL,
	client_country    text             NOT NULL,
	client_prefix     text             NOT NULL,
	browser           text             NOT NULL
);
CREATE INDEX nel_reports_endpoint ON nel_reports (team, endpoint, occurred_at);
CREATE INDEX nel_reports_occurred ON nel_reports USING brin (occurred_at);
`

var _ results.NELStore = (*Store)(nil)

var nelColumnList = []string{"occurred_at", "received_at", "team", "endpoint", "url", "phase", "type",
	"sampling_fraction", "elapsed_ms", "server_ip", "protocol", "method", "status_code", "client_asn",
	"client_country", "client_prefix", "browser"}

// InsertNELReports implements results.NELStore with one COPY.
func (s *Store) InsertNELReports(ctx context.Context, rs []results.NELReport) error {
	if len(rs) == 0 {
		return nil
	}
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"nel_reports"}, nelColumnList,
		pgx.CopyFromSlice(len(rs), func(i int) ([]any, error) {
			r := &rs[i]
			return []any{r.OccurredAt, r.ReceivedAt, r.Team, r.Endpoint, r.URL, r.Phase, r.Type,
				r.SamplingFraction, r.ElapsedMS, r.ServerIP, r.Protocol, r.Method, int32(r.StatusCode),
				int64(r.ClientASN), r.ClientCountry, r.ClientPrefix, r.Browser}, nil
		}))
	if err != nil {
		return fmt.Errorf("postgres: insert nel reports: %w", err)
	}
	return nil
}

func nelWhere(q results.NELQuery) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if q.Team != "" {
		add("team = $%d", q.Team)
	}
	if q.Endpoint != "" {
		add("endpoint = $%d", q.Endpoint)
	}
	if !q.Since.IsZero() {
		add("occurred_at >= $%d", q.Since)
	}
	if !q.Until.IsZero() {
		add("occurred_at < $%d", q.Until)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// NELReports implements results.NELStore.
func (s *Store) NELReports(ctx context.Context, q results.NELQuery) ([]results.NELReport, error) {
	where, args := nelWhere(q)
	limit := results.RowLimit(q.Limit)
	rows, err := s.pool.Query(ctx, `SELECT `+strings.Join(nelColumnList, ", ")+` FROM nel_reports`+where+
		` ORDER BY occurred_at DESC LIMIT `+fmt.Sprint(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: nel reports: %w", err)
	}
	defer rows.Close()
	var out []results.NELReport
	for rows.Next() {
		var r results.NELReport
		var asn int64
		var status int32
		if err := rows.Scan(&r.OccurredAt, &r.ReceivedAt, &r.Team, &r.Endpoint, &r.URL, &r.Phase, &r.Type,
			&r.SamplingFraction, &r.ElapsedMS, &r.ServerIP, &r.Protocol, &r.Method, &status,
			&asn, &r.ClientCountry, &r.ClientPrefix, &r.Browser); err != nil {
			return nil, fmt.Errorf("postgres: nel reports: %w", err)
		}
		r.OccurredAt, r.ReceivedAt = r.OccurredAt.UTC(), r.ReceivedAt.UTC()
		r.StatusCode, r.ClientASN = int(status), uint32(asn)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: nel reports: %w", err)
	}
	return out, nil
}

// NELCounts implements results.NELStore.
func (s *Store) NELCounts(ctx context.Context, q results.NELQuery) ([]results.NELCount, error) {
	where, args := nelWhere(q)
	bucket := "date_trunc('minute', occurred_at)"
	if step := q.BucketWidth(); step != time.Minute {
		bucket = fmt.Sprintf("to_timestamp(floor(extract(epoch FROM occurred_at) / %[1]d) * %[1]d)", int64(step/time.Second))
	}
	rows, err := s.pool.Query(ctx, `SELECT `+bucket+` AS bucket,
		team, endpoint, phase, type, client_asn, client_country, count(*), sum(1.0 / sampling_fraction)
		FROM nel_reports`+where+`
		GROUP BY bucket, team, endpoint, phase, type, client_asn, client_country
		ORDER BY bucket, team, endpoint, phase, type, client_asn, client_country`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: nel counts: %w", err)
	}
	defer rows.Close()
	var out []results.NELCount
	for rows.Next() {
		var c results.NELCount
		var asn int64
		if err := rows.Scan(&c.Bucket, &c.Team, &c.Endpoint, &c.Phase, &c.Type, &asn, &c.ClientCountry,
			&c.Reports, &c.Weighted); err != nil {
			return nil, fmt.Errorf("postgres: nel counts: %w", err)
		}
		c.Bucket = c.Bucket.UTC()
		c.ClientASN = uint32(asn)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: nel counts: %w", err)
	}
	return out, nil
}

// DeleteNELReportsBefore implements results.NELStore.
func (s *Store) DeleteNELReportsBefore(ctx context.Context, t time.Time) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM nel_reports WHERE occurred_at < $1`, t); err != nil {
		return fmt.Errorf("postgres: delete nel reports: %w", err)
	}
	return nil
}
