package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	magic        = "PKSPOOL1"
	recHeader    = 8  // u32 length, u32 crc
	ackEntry     = 12 // u64 offset, u32 crc
	maxIDBytes   = 255
	segExt       = ".seg"
	ackExt       = ".ack"
	corruptExt   = ".corrupt"
	minSegment   = 4 << 10
	maxSegment   = 64 << 20
	defaultSync  = time.Second
	maxRecordLen = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrTooLarge is returned by Append for a record that could never fit in
// the spool's bound.
var ErrTooLarge = errors.New("record larger than the spool bound")

// ErrClosed is returned by operations on a closed spool.
var ErrClosed = errors.New("spool closed")

// Options configure a spool.
type Options struct {
	// Dir holds the segment files; it is created when missing.
	Dir string
	// MaxBytes bounds the spool on disk; 0 means 512 MiB.
	MaxBytes int64
	// SegmentBytes is the size at which a segment is closed and a new one
	// started; 0 picks MaxBytes/8 within [4 KiB, 64 MiB]. It is the
	// granularity at which the bound drops old records.
	SegmentBytes int64
	// SyncEvery is the fsync period (see the package documentation); 0
	// means 1s, negative means fsync on every Append.
	SyncEvery time.Duration
	// Logger receives damage reports; nil discards them.
	Logger *slog.Logger
}

// Record is one spooled item: the result's id and its encoded form.
type Record struct {
	ID   string
	Data []byte
}

// Stats describe the spool now.
type Stats struct {
	Records int64 // not yet acknowledged (pending and in flight)
	Bytes   int64 // on disk, segments and acknowledgement files
	// Dropped counts records discarded unacknowledged to honour MaxBytes
	// or to make room on a full disk, since Open.
	Dropped int64
	// Lost counts records made unreadable by corruption, found at Open.
	Lost int64
	// CorruptFiles counts files found damaged at Open.
	CorruptFiles int64
}

type state uint8

const (
	pending state = iota
	inflight
	acked
)

type entry struct {
	off   int64
	n     uint32 // whole record including header
	state state
	id    string
}

type segment struct {
	seq     uint64
	path    string
	f       *os.File
	ack     *os.File // opened on first acknowledgement
	size    int64
	ackSize int64
	recs    []entry
	done    int // acknowledged
	cursor  int // no pending record before this index
	// gone marks a segment dropped to honour MaxBytes while some of its
	// records were in flight: their fate (delivered or dropped) is
	// decided by Ack or Release.
	gone bool
}

type ref struct {
	seg *segment
	idx int
}

// Spool is a durable FIFO of records awaiting acknowledgement. It is safe
// for concurrent use.
type Spool struct {
	opts   Options
	log    *slog.Logger
	mu     sync.Mutex
	segs   []*segment // oldest first; the last one is appended to
	flight map[string]ref
	live   int64 // unacknowledged records
	bytes  int64
	stats  Stats
	dirty  bool
	closed bool
	ready  chan struct{}
	stop   chan struct{}
	// reclaimLogged is when reclaim last logged emptying the active
	// segment.
	reclaimLogged time.Time
	synced        sync.WaitGroup
}

// Open opens or creates the spool in opts.Dir and loads what a previous
// run left there.
func Open(opts Options) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("spool: no directory")
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 512 << 20
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = min(max(opts.MaxBytes/8, minSegment), maxSegment)
	}
	if opts.SyncEvery == 0 {
		opts.SyncEvery = defaultSync
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{opts: opts, log: log, flight: map[string]ref{}, ready: make(chan struct{}, 1), stop: make(chan struct{})}
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if err := s.rotate(); err != nil {
		// On a full disk, carry on appending to the newest segment
		// rather than refuse to start: Append frees space as it can. Not
		// after damage: new records must not land amid old bytes.
		if !errors.Is(err, syscall.ENOSPC) || !s.cleanTail() {
			s.closeFiles()
			return nil, err
		}
		log.Warn("spool: disk full at start; appending to the newest segment", "err", err)
	}
	if s.live > 0 {
		s.signal()
	}
	if opts.SyncEvery > 0 {
		s.synced.Add(1)
		go s.syncLoop()
	}
	return s, nil
}

func (s *Spool) load() error {
	names, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	seen := map[string]bool{}
	var seqs []uint64
	for _, d := range names {
		name, ok := strings.CutSuffix(d.Name(), segExt)
		if !ok || d.IsDir() {
			continue
		}
		seq, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		seg, err := s.loadSegment(seq)
		if err != nil {
			return err
		}
		if seg == nil {
			continue
		}
		// Ids are unique when written; a repeat can only come from
		// damage, and is delivered once.
		for i := range seg.recs {
			if e := &seg.recs[i]; e.state != acked {
				if seen[e.id] {
					e.state = acked
					seg.done++
				}
				seen[e.id] = true
			}
		}
		if seg.done == len(seg.recs) {
			s.removeSegment(seg)
			continue
		}
		s.segs = append(s.segs, seg)
		s.live += int64(len(seg.recs) - seg.done)
		s.bytes += seg.size + seg.ackSize
	}
	return nil
}

// cleanTail reports whether the newest segment ends with its last whole
// record, so that appending to it is safe.
func (s *Spool) cleanTail() bool {
	seg := s.active()
	if seg == nil {
		return false
	}
	fi, err := seg.f.Stat()
	return err == nil && fi.Size() == seg.size
}

func segName(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// loadSegment reads one segment and its acknowledgements. It returns nil
// for a file it quarantined.
func (s *Spool) loadSegment(seq uint64) (*segment, error) {
	path := filepath.Join(s.opts.Dir, segName(seq)+segExt)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: read %s: %w", path, err)
	}
	if len(data) < len(magic) || string(data[:len(magic)]) != magic {
		f.Close()
		if len(data) == 0 {
			// Created but never written: the crash came before the header.
			os.Remove(path)
			return nil, nil
		}
		s.stats.CorruptFiles++
		s.log.Error("spool: file is not a spool segment; set aside", "file", path, "renamed", path+corruptExt)
		if err := os.Rename(path, path+corruptExt); err != nil {
			return nil, fmt.Errorf("spool: quarantine %s: %w", path, err)
		}
		os.Remove(filepath.Join(s.opts.Dir, segName(seq)+ackExt))
		return nil, nil
	}
	seg := &segment{seq: seq, path: path, f: f}
	off := int64(len(magic))
	for off < int64(len(data)) {
		rest := data[off:]
		torn := len(rest) < recHeader
		var n uint32
		if !torn {
			n = binary.LittleEndian.Uint32(rest)
			torn = int64(n) > int64(len(rest))-recHeader
		}
		if torn {
			s.log.Warn("spool: torn write at end of segment; truncated", "file", path, "offset", off, "bytes", len(rest))
			if err := f.Truncate(off); err != nil {
				f.Close()
				return nil, fmt.Errorf("spool: truncate %s: %w", path, err)
			}
			break
		}
		body := rest[recHeader : recHeader+int64(n)]
		id, ok := decodeBody(body, binary.LittleEndian.Uint32(rest[4:]))
		if !ok {
			if off+recHeader+int64(n) == int64(len(data)) {
				s.log.Warn("spool: torn write at end of segment; truncated", "file", path, "offset", off)
				if err := f.Truncate(off); err != nil {
					f.Close()
					return nil, fmt.Errorf("spool: truncate %s: %w", path, err)
				}
				break
			}
			lost := countLost(data[off:])
			s.stats.CorruptFiles++
			s.stats.Lost += int64(lost)
			s.log.Error("spool: corrupt record; delivering the records before it and skipping the rest of the file",
				"file", path, "offset", off, "skipped_bytes", len(data)-int(off), "records_lost_estimate", lost)
			break
		}
		seg.recs = append(seg.recs, entry{off: off, n: recHeader + n, id: id})
		off += recHeader + int64(n)
	}
	seg.size = off
	if err := s.loadAcks(seg); err != nil {
		f.Close()
		return nil, err
	}
	for seg.cursor < len(seg.recs) && seg.recs[seg.cursor].state == acked {
		seg.cursor++
	}
	return seg, nil
}

// countLost estimates how many records a damaged tail held, by counting
// positions where a record with a valid checksum starts.
func countLost(tail []byte) int {
	lost := 1
	for i := 1; i+recHeader <= len(tail); i++ {
		n := int64(binary.LittleEndian.Uint32(tail[i:]))
		if n == 0 || n > int64(len(tail)-i-recHeader) {
			continue
		}
		if _, ok := decodeBody(tail[i+recHeader:i+recHeader+int(n)], binary.LittleEndian.Uint32(tail[i+4:])); ok {
			lost++
			i += recHeader + int(n) - 1
		}
	}
	return lost
}

func decodeBody(body []byte, sum uint32) (string, bool) {
	if crc32.Checksum(body, castagnoli) != sum || len(body) < 1 || int(body[0]) > len(body)-1 {
		return "", false
	}
	return string(body[1 : 1+int(body[0])]), true
}

func (s *Spool) loadAcks(seg *segment) error {
	path := filepath.Join(s.opts.Dir, segName(seg.seq)+ackExt)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for i := 0; i+ackEntry <= len(data); i += ackEntry {
		if crc32.Checksum(data[i:i+8], castagnoli) != binary.LittleEndian.Uint32(data[i+8:]) {
			continue // a torn or damaged entry: at worst the record is sent again
		}
		off := int64(binary.LittleEndian.Uint64(data[i:]))
		j, found := slices.BinarySearchFunc(seg.recs, off, func(e entry, off int64) int { return int(e.off - off) })
		if found && seg.recs[j].state != acked {
			seg.recs[j].state = acked
			seg.done++
		}
	}
	af, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	seg.ack = af
	seg.ackSize = int64(len(data))
	return nil
}

// rotate starts a new segment. Callers hold mu (or are in Open).
func (s *Spool) rotate() error {
	var seq uint64 = 1
	if n := len(s.segs); n > 0 {
		seq = s.segs[n-1].seq + 1
	}
	path := filepath.Join(s.opts.Dir, segName(seq)+segExt)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if _, err := f.Write([]byte(magic)); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("spool: %w", err)
	}
	// The previous segment is flushed by the next periodic Sync, like
	// the others: an fsync here would hold up Append.
	if cur := s.active(); cur != nil {
		if cur.done == len(cur.recs) {
			s.bytes -= cur.size + cur.ackSize
			s.segs = s.segs[:len(s.segs)-1]
			s.removeSegment(cur)
		}
	}
	syncDir(s.opts.Dir)
	s.segs = append(s.segs, &segment{seq: seq, path: path, f: f, size: int64(len(magic))})
	s.bytes += int64(len(magic))
	return nil
}

func (s *Spool) active() *segment {
	if len(s.segs) == 0 {
		return nil
	}
	return s.segs[len(s.segs)-1]
}

// Append writes records to the spool. It returns once the kernel has
// them; see the package documentation for when they reach the disk.
func (s *Spool) Append(recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	var buf []byte
	sizes := make([]uint32, len(recs))
	for i, r := range recs {
		if len(r.ID) > maxIDBytes || r.ID == "" {
			return fmt.Errorf("spool: record id %q: empty or longer than %d bytes", r.ID, maxIDBytes)
		}
		n := 1 + len(r.ID) + len(r.Data)
		if n > maxRecordLen || int64(n+recHeader) > s.opts.SegmentBytes {
			return fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
		}
		start := len(buf)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
		buf = append(buf, 0, 0, 0, 0)
		buf = append(buf, byte(len(r.ID)))
		buf = append(buf, r.ID...)
		buf = append(buf, r.Data...)
		binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+recHeader:], castagnoli))
		sizes[i] = uint32(len(buf) - start)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.active().size+int64(len(buf)) > s.opts.SegmentBytes {
		for {
			err := s.rotate()
			if err == nil {
				break
			}
			if !errors.Is(err, syscall.ENOSPC) || !s.reclaim() {
				return err
			}
		}
	}
	s.makeRoom(int64(len(buf)))
	seg := s.active()
	for {
		_, err := seg.f.WriteAt(buf, seg.size)
		if err == nil {
			break
		}
		// Leave the file as the records before this batch: a partial
		// write would read as a torn record, and the next batch must not
		// follow it.
		_ = seg.f.Truncate(seg.size)
		if !errors.Is(err, syscall.ENOSPC) || !s.reclaim() {
			return fmt.Errorf("spool: append: %w", err)
		}
		seg = s.active()
	}
	off := seg.size
	for i, r := range recs {
		seg.recs = append(seg.recs, entry{off: off, n: sizes[i], id: r.ID})
		off += int64(sizes[i])
	}
	seg.size = off
	s.bytes += int64(len(buf))
	s.live += int64(len(recs))
	if s.opts.SyncEvery < 0 {
		if err := seg.f.Sync(); err != nil {
			return fmt.Errorf("spool: fsync: %w", err)
		}
	} else {
		s.dirty = true
	}
	s.signal()
	return nil
}

// makeRoom drops the oldest segments until n more bytes fit in MaxBytes.
// The active segment is kept: it can be no larger than SegmentBytes.
func (s *Spool) makeRoom(n int64) {
	for s.bytes+n > s.opts.MaxBytes && len(s.segs) > 1 {
		dropped, path := s.dropOldest()
		s.log.Warn("spool: full; dropped the oldest results", "file", path, "records", dropped, "max_bytes", s.opts.MaxBytes)
	}
}

// dropOldest deletes the oldest segment, which is not the active one, and
// counts its pending records as dropped. Callers hold mu.
func (s *Spool) dropOldest() (dropped int, path string) {
	old := s.segs[0]
	s.segs = s.segs[1:]
	old.gone = true
	for _, e := range old.recs {
		if e.state == pending {
			dropped++
		}
	}
	s.stats.Dropped += int64(dropped)
	s.live -= int64(dropped)
	s.bytes -= old.size + old.ackSize
	s.removeSegment(old)
	return dropped, old.path
}

// reclaim frees disk space after the filesystem said it had none, so that
// a full disk costs the oldest results, as MaxBytes does, rather than
// every new one. The active segment, once every record in it is
// acknowledged, is emptied in place: otherwise it would keep its space
// until it grew to SegmentBytes, which on a full disk it never does, and
// the spool would refuse every result until a restart. Failing that, the
// oldest segment is dropped. It reports whether anything was freed.
// Callers hold mu.
func (s *Spool) reclaim() bool {
	if seg := s.active(); seg != nil && len(seg.recs) > 0 && seg.done == len(seg.recs) {
		// The acknowledgements go first: were the segment emptied first
		// and the prober to crash, new records written at the offsets of
		// acknowledged ones would read as acknowledged after a restart.
		if seg.ack != nil {
			if err := seg.ack.Truncate(0); err != nil {
				s.log.Error("spool: empty acknowledgements", "file", seg.path, "err", err)
				return false
			}
			_ = seg.ack.Sync()
		}
		if err := seg.f.Truncate(int64(len(magic))); err != nil {
			s.log.Error("spool: empty acknowledged segment", "file", seg.path, "err", err)
			return false
		}
		s.bytes -= seg.size + seg.ackSize - int64(len(magic))
		seg.size, seg.ackSize = int64(len(magic)), 0
		seg.recs, seg.done, seg.cursor = nil, 0, 0
		// On a disk that stays full this happens every few records:
		// say so once a minute.
		if now := time.Now(); now.Sub(s.reclaimLogged) >= time.Minute {
			s.reclaimLogged = now
			s.log.Warn("spool: disk full; reusing the space of delivered results", "file", seg.path)
		}
		return true
	}
	if len(s.segs) > 1 {
		dropped, path := s.dropOldest()
		s.log.Warn("spool: disk full; dropped the oldest results", "file", path, "records", dropped)
		return true
	}
	return false
}

func (s *Spool) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled when records may be waiting; a receiver should call
// Next until it returns nothing.
func (s *Spool) Ready() <-chan struct{} { return s.ready }

// Next hands out up to maxRecords pending records, oldest first, whose
// total size stays within maxBytes (at least one record is returned when
// any is pending). They stay in flight until Ack or Release.
func (s *Spool) Next(maxRecords, maxBytes int) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []Record
	total := 0
	full := func(e entry) bool {
		return len(out) >= maxRecords || (len(out) > 0 && total+int(e.n) > maxBytes)
	}
	for _, seg := range s.segs {
		i := seg.cursor
		for i < len(seg.recs) {
			for i < len(seg.recs) && seg.recs[i].state != pending {
				i++
			}
			first := i
			for i < len(seg.recs) && seg.recs[i].state == pending && !full(seg.recs[i]) {
				out = append(out, Record{ID: seg.recs[i].id})
				total += int(seg.recs[i].n)
				i++
			}
			if i == first {
				break
			}
			if err := s.fill(seg, first, i, out[len(out)-(i-first):]); err != nil {
				return out[:len(out)-(i-first)], err
			}
			seg.cursor = max(seg.cursor, i)
			if i < len(seg.recs) && seg.recs[i].state == pending {
				return out, nil // the budget is spent
			}
		}
		if len(out) >= maxRecords {
			break
		}
	}
	return out, nil
}

// fill reads the records [first, last) of seg into out and marks them in
// flight.
func (s *Spool) fill(seg *segment, first, last int, out []Record) error {
	start := seg.recs[first].off
	end := seg.recs[last-1].off + int64(seg.recs[last-1].n)
	buf := make([]byte, end-start)
	if _, err := seg.f.ReadAt(buf, start); err != nil {
		return fmt.Errorf("spool: read %s: %w", seg.path, err)
	}
	for i := first; i < last; i++ {
		e := &seg.recs[i]
		rec := buf[e.off-start : e.off-start+int64(e.n)]
		out[i-first].Data = rec[recHeader+1+int(rec[recHeader]):]
		e.state = inflight
		s.flight[e.id] = ref{seg, i}
	}
	return nil
}

// Release returns in-flight records to the queue to be sent again, ahead
// of newer ones. Unknown ids are ignored.
func (s *Spool) Release(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		r, ok := s.flight[id]
		if !ok {
			continue
		}
		delete(s.flight, id)
		if r.seg.gone {
			// Its segment was dropped while it was in flight, and it
			// was not delivered: now it is lost.
			s.stats.Dropped++
			s.live--
			continue
		}
		r.seg.recs[r.idx].state = pending
		r.seg.cursor = min(r.seg.cursor, r.idx)
	}
	if len(ids) > 0 {
		s.signal()
	}
}

// Ack forgets in-flight records for good. Unknown ids (already dropped,
// or acknowledged twice) are ignored.
func (s *Spool) Ack(ids ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	bySeg := map[*segment][]byte{}
	for _, id := range ids {
		r, ok := s.flight[id]
		if !ok {
			continue
		}
		delete(s.flight, id)
		s.live--
		if r.seg.gone {
			continue // delivered after all; its file is already deleted
		}
		e := &r.seg.recs[r.idx]
		e.state = acked
		r.seg.done++
		b := binary.LittleEndian.AppendUint64(bySeg[r.seg], uint64(e.off))
		bySeg[r.seg] = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[len(b)-8:], castagnoli))
	}
	var errs []error
	for seg, b := range bySeg {
		if seg.done == len(seg.recs) && seg != s.active() {
			s.bytes -= seg.size + seg.ackSize
			s.segs = slices.DeleteFunc(s.segs, func(x *segment) bool { return x == seg })
			s.removeSegment(seg)
			continue
		}
		if seg.ack == nil {
			f, err := os.OpenFile(filepath.Join(s.opts.Dir, segName(seg.seq)+ackExt), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				errs = append(errs, fmt.Errorf("spool: %w", err))
				continue
			}
			seg.ack = f
		}
		if _, err := seg.ack.Write(b); err != nil {
			// On a full disk the active segment, once wholly
			// acknowledged, needs no acknowledgements: it is emptied.
			if errors.Is(err, syscall.ENOSPC) && seg == s.active() && seg.done == len(seg.recs) && s.reclaim() {
				continue
			}
			errs = append(errs, fmt.Errorf("spool: record acknowledgement: %w", err))
			continue
		}
		seg.ackSize += int64(len(b))
		s.bytes += int64(len(b))
		s.dirty = true
	}
	return errors.Join(errs...)
}

func (s *Spool) removeSegment(seg *segment) {
	seg.f.Close()
	if seg.ack != nil {
		seg.ack.Close()
	}
	if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Error("spool: remove segment", "file", seg.path, "err", err)
	}
	os.Remove(filepath.Join(s.opts.Dir, segName(seg.seq)+ackExt))
}

// Stats returns the spool's counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Records = s.live
	st.Bytes = s.bytes
	return st
}

// Sync flushes every segment and acknowledgement file to stable storage.
// The fsyncs run outside the spool's lock, so that a slow disk delays
// durability, not Append.
func (s *Spool) Sync() error {
	s.mu.Lock()
	if !s.dirty || s.closed {
		s.mu.Unlock()
		return nil
	}
	files := s.files()
	s.dirty = false
	s.mu.Unlock()
	err := syncFiles(files)
	if err != nil {
		// Try again at the next period rather than report the data safe.
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
	}
	return err
}

// files lists the open segment and acknowledgement files. Callers hold mu.
func (s *Spool) files() []*os.File {
	var files []*os.File
	for _, seg := range s.segs {
		files = append(files, seg.f)
		if seg.ack != nil {
			files = append(files, seg.ack)
		}
	}
	return files
}

// syncFiles fsyncs files; one closed meanwhile (its segment was fully
// acknowledged or dropped) needs no flush.
func syncFiles(files []*os.File) error {
	var errs []error
	for _, f := range files {
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spool: fsync: %w", err)
	}
	return nil
}

func (s *Spool) syncLoop() {
	defer s.synced.Done()
	t := time.NewTicker(s.opts.SyncEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Sync(); err != nil {
				s.log.Error("spool: periodic fsync", "err", err)
			}
		}
	}
}

// Close flushes the spool to disk and closes it. In-flight records stay
// in the files and are handed out again after the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	err := syncFiles(s.files())
	s.closed = true
	s.closeFiles()
	s.mu.Unlock()
	close(s.stop)
	s.synced.Wait()
	return err
}

func (s *Spool) closeFiles() {
	for _, seg := range s.segs {
		seg.f.Close()
		if seg.ack != nil {
			seg.ack.Close()
		}
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
