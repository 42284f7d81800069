package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/picketnet/picket/results"
)

// Network Error Logging reports (package nel): one row per report, only
// the client's network, never its address. Counts are aggregated by the
// query; a busy endpoint's reports are few beside its probe results.

// nelMigration creates the NEL table; it is appended to migrations.
const nelMigration = `
CREATE TABLE nel_reports (
	occurred_at       INTEGER NOT NULL, -- Unix nanoseconds
	received_at       INTEGER NOT NULL,
	team              TEXT    NOT NULL,
	endpoint          TEXT    NOT NULL,
	url               TEXT    NOT NULL,
	phase             TEXT    NOT NULL,
	type              TEXT    NOT NULL,
	sampling_fraction REAL    NOT NULL,
	elapsed_ms        INTEGER NOT NULL,
	server_ip         TEXT    NOT NULL,
	protocol          TEXT    NOT NULL,
	method            TEXT    NOT NULL,
	status_code       INTEGER NOT NULL,
	client_asn        INTEGER NOT NULL,
	client_country    TEXT    NOT NULL,
	client_prefix     TEXT    NOT NULL,
	browser           TEXT    NOT NULL
);
CREATE INDEX nel_reports_endpoint ON nel_reports (team, endpoint, occurred_at);
CREATE INDEX nel_reports_occurred ON nel_reports (occurred_at);
`

var _ results.NELStore = (*Store)(nil)

const nelColumns = `occurred_at, received_at, team, endpoint, url, phase, type, sampling_fraction,
	elapsed_ms, server_ip, protocol, method, status_code, client_asn, client_country, client_prefix, browser`

const nelChunk = 400 // 17 columns: 6800 variables

// InsertNELReports implements results.NELStore.
func (s *Store) InsertNELReports(ctx context.Context, rs []results.NELReport) error {
	if len(rs) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: insert nel reports: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	for lo := 0; lo < len(rs); lo += nelChunk {
		chunk := rs[lo:min(lo+nelChunk, len(rs))]
		args := make([]any, 0, len(chunk)*17)
		for _, r := range chunk {
			args = append(args, r.OccurredAt.UnixNano(), r.ReceivedAt.UnixNano(), r.Team, r.Endpoint,
				r.URL, r.Phase, r.Type, r.SamplingFraction, r.ElapsedMS, r.ServerIP, r.Protocol,
				r.Method, r.StatusCode, int64(r.ClientASN), r.ClientCountry, r.ClientPrefix, r.Browser)
		}
		q := `INSERT INTO nel_reports (` + nelColumns + `) VALUES ` + placeholders(17, len(chunk))
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("sqlite: insert nel reports: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: insert nel reports: commit: %w", err)
	}
	return nil
}

func nelWhere(q results.NELQuery) (string, []any) {
	var conds []string
	var args []any
	if q.Team != "" {
		conds, args = append(conds, "team = ?"), append(args, q.Team)
	}
	if q.Endpoint != "" {
		conds, args = append(conds, "endpoint = ?"), append(args, q.Endpoint)
	}
	if !q.Since.IsZero() {
		conds, args = append(conds, "occurred_at >= ?"), append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		conds, args = append(conds, "occurred_at < ?"), append(args, q.Until.UnixNano())
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
	rows, err := s.r.QueryContext(ctx, `SELECT `+nelColumns+` FROM nel_reports`+where+
		` ORDER BY occurred_at DESC LIMIT `+fmt.Sprint(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: nel reports: %w", err)
	}
	defer rows.Close()
	var out []results.NELReport
	for rows.Next() {
		var r results.NELReport
		var occurred, received, asn int64
		if err := rows.Scan(&occurred, &received, &r.Team, &r.Endpoint, &r.URL, &r.Phase, &r.Type,
			&r.SamplingFraction, &r.ElapsedMS, &r.ServerIP, &r.Protocol, &r.Method, &r.StatusCode,
			&asn, &r.ClientCountry, &r.ClientPrefix, &r.Browser); err != nil {
			return nil, fmt.Errorf("sqlite: nel reports: %w", err)
		}
		r.OccurredAt, r.ReceivedAt = time.Unix(0, occurred).UTC(), time.Unix(0, received).UTC()
		r.ClientASN = uint32(asn)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: nel reports: %w", err)
	}
	return out, nil
}

// NELCounts implements results.NELStore.
func (s *Store) NELCounts(ctx context.Context, q results.NELQuery) ([]results.NELCount, error) {
	where, args := nelWhere(q)
	step := int64(q.BucketWidth())
	rows, err := s.r.QueryContext(ctx, fmt.Sprintf(`SELECT (occurred_at / %[1]d) * %[1]d AS bucket,
		team, endpoint, phase, type, client_asn, client_country, count(*), sum(1.0 / sampling_fraction)
		FROM nel_reports%[2]s
		GROUP BY bucket, team, endpoint, phase, type, client_asn, client_country
		ORDER BY bucket, team, endpoint, phase, type, client_asn, client_country`, step, where), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: nel counts: %w", err)
	}
	defer rows.Close()
	var out []results.NELCount
	for rows.Next() {
		var c results.NELCount
		var bucket, asn int64
		if err := rows.Scan(&bucket, &c.Team, &c.Endpoint, &c.Phase, &c.Type, &asn, &c.ClientCountry,
			&c.Reports, &c.Weighted); err != nil {
			return nil, fmt.Errorf("sqlite: nel counts: %w", err)
		}
		c.Bucket = time.Unix(0, bucket).UTC()
		c.ClientASN = uint32(asn)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: nel counts: %w", err)
	}
	return out, nil
}

// DeleteNELReportsBefore implements results.NELStore.
func (s *Store) DeleteNELReportsBefore(ctx context.Context, t time.Time) error {
	if _, err := s.exec(ctx, `DELETE FROM nel_reports WHERE occurred_at < ?`, t.UnixNano()); err != nil {
		return fmt.Errorf("sqlite: delete nel reports: %w", err)
	}
	return nil
}
