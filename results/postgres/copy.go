package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/s2"

	"github.com/picketnet/picket/results/rollup"
)

// copyBuf builds COPY's binary format directly. Handing pgx rows of []any
// made it look up an encode plan for every value, which cost more CPU
// than the server spent storing the rows.
type copyBuf struct{ b []byte }

// pgEpoch is PostgreSQL's epoch, 2000-01-01, in Unix microseconds.
const pgEpoch = 946684800 * 1000000

// newCopyBuf returns a buffer with room for size bytes of rows, besides
// the header and the trailer.
func newCopyBuf(size int) *copyBuf {
	c := &copyBuf{b: make([]byte, 0, 19+size+2)}
	c.b = append(c.b, "PGCOPY\n\xff\r\n\x00"...)
	c.b = binary.BigEndian.AppendUint32(c.b, 0) // flags
	c.b = binary.BigEndian.AppendUint32(c.b, 0) // header extension length
	return c
}

func (c *copyBuf) row(fields int) { c.b = binary.BigEndian.AppendUint16(c.b, uint16(fields)) }

func (c *copyBuf) text(s string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
}

// bytea writes nil as NULL.
func (c *copyBuf) bytea(v []byte) {
	if v == nil {
		c.b = binary.BigEndian.AppendUint32(c.b, math.MaxUint32) // -1
		return
	}
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(v)))
	c.b = append(c.b, v...)
}

// s2Bytea writes raw compressed with S2, encoding it in place.
func (c *copyBuf) s2Bytea(raw []byte) {
	at, most := len(c.b), s2.MaxEncodedLen(len(raw))
	c.b = slices.Grow(c.b, 4+most)
	dst := c.b[at+4 : at+4+most]
	enc := s2.Encode(dst, raw)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(enc)))
	if len(enc) > 0 && &enc[0] != &dst[0] {
		c.b = append(c.b, enc...) // not in place: s2 promises it is
		return
	}
	c.b = c.b[:at+4+len(enc)]
}

func (c *copyBuf) int8(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

// nullInt8 writes nil as NULL.
func (c *copyBuf) nullInt8(v *int64) {
	if v == nil {
		c.b = binary.BigEndian.AppendUint32(c.b, math.MaxUint32) // -1
		return
	}
	c.int8(*v)
}

func (c *copyBuf) int4(v int32) {
	c.b = binary.BigEndian.AppendUint32(c.b, 4)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(v))
}

// textArray writes a one-dimensional text[] without NULLs.
func (c *copyBuf) textArray(ss []string) {
	size := 20
	for _, s := range ss {
		size += 4 + len(s)
	}
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(size))
	c.b = binary.BigEndian.AppendUint32(c.b, 1)  // dimensions
	c.b = binary.BigEndian.AppendUint32(c.b, 0)  // no NULLs
	c.b = binary.BigEndian.AppendUint32(c.b, 25) // element type: text
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(ss)))
	c.b = binary.BigEndian.AppendUint32(c.b, 1) // lower bound
	for _, s := range ss {
		c.text(s)
	}
}

func (c *copyBuf) float8(v float64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, math.Float64bits(v))
}

func (c *copyBuf) bool(v bool) {
	c.b = binary.BigEndian.AppendUint32(c.b, 1)
	if v {
		c.b = append(c.b, 1)
	} else {
		c.b = append(c.b, 0)
	}
}

func (c *copyBuf) timestamptz(t time.Time) { c.int8(t.UnixMicro() - pgEpoch) }

// send ends the data and copies it into table.
func (c *copyBuf) send(ctx context.Context, tx pgx.Tx, table string, columns []string) error {
	c.b = binary.BigEndian.AppendUint16(c.b, math.MaxUint16) // -1: the end
	_, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(c.b),
		`COPY `+pgx.Identifier{table}.Sanitize()+` (`+strings.Join(columns, ", ")+`) FROM STDIN (FORMAT binary)`)
	return err
}

// copyRollupRows copies rows of one level into its table; the columns are
// rollupCopyColumns and, for hours, their minutes from masks.
func copyRollupRows(ctx context.Context, tx pgx.Tx, l rollup.Level, rows []*rollup.Row, masks map[rollup.Key]*int64) error {
	c := newCopyBuf(len(rows) * 256)
	cols := rollupCopyColumns
	if l == rollup.Hour {
		cols = append(slices.Clip(cols), "minutes")
	}
	var hist []byte
	for _, r := range rows {
		var err error
		if hist, err = r.Hist.AppendBinary(hist[:0]); err != nil {
			return err
		}
		c.row(len(cols))
		c.timestamptz(r.Time())
		for _, s := range []string{r.Check, r.Vantage, r.Team, r.Endpoint, r.Kind, r.Region, r.Provider} {
			c.text(s)
		}
		for _, v := range []int64{int64(r.ASN), r.Count, r.Failures, r.FailedMinutes, r.DownMinutes} {
			c.int8(v)
		}
		c.text(rollup.EncodeErrors(r.Errors))
		if hist == nil {
			hist = []byte{} // an empty histogram, not NULL
		}
		c.bytea(hist)
		if l == rollup.Hour {
			c.nullInt8(masks[r.Key])
		}
	}
	return c.send(ctx, tx, "rollup_"+l.String(), cols)
}
