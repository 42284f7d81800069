// Package pgtest gives tests a throwaway PostgreSQL server: a cluster
// initialised in a temporary directory from the server binaries on the
// machine (Debian's /usr/lib/postgresql/*/bin), listening on 127.0.0.1 on
// a free port, with durability turned off for speed, and a fresh database
// per test. When PICKET_TEST_POSTGRES holds a URL, that server is used
// instead and only the per-test databases are created on it.
//
// One cluster serves a whole test binary: declare it in the test package
// and stop it from TestMain,
//
//	var pg = pgtest.New()
//
//	func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }
//
// and call pg.Database(t) in each test. PostgreSQL refuses to run as
// root, so as root the cluster runs as the unprivileged user "nobody".
// Without the binaries a test skips, and fails under CI=true.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/picketnet/picket/internal/testenv"
)

// Cluster is a PostgreSQL server for tests, started on first use.
type Cluster struct {
	once    sync.Once
	err     error
	skip    bool // no server binaries: skip (or fail under CI)
	baseURL *url.URL
	dir     string
	sock    string // the unix socket directory of a cluster this package started
	cmd     *exec.Cmd
	exited  chan struct{}
	seq     atomic.Int64
}

// New returns a cluster that starts when a test first asks for a database.
func New() *Cluster { return &Cluster{} }

// Main runs the tests and stops the cluster, returning the exit code.
func (c *Cluster) Main(m *testing.M) int {
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
	}
	return code
}

// Database creates an empty database for t, dropped when t ends, and
// returns its URL.
func (c *Cluster) Database(t testing.TB) string {
	t.Helper()
	c.once.Do(func() { c.err = c.start() })
	if c.skip {
		if testenv.InCI() {
			t.Fatalf("pgtest: %v, and CI=true requires Postgres tests to run", c.err)
		}
		t.Skipf("pgtest: %v", c.err)
	}
	if c.err != nil {
		t.Fatalf("pgtest: %v", c.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("picket_test_%d_%d", os.Getpid(), c.seq.Add(1))
	admin, err := pgx.Connect(ctx, c.baseURL.String())
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, c.baseURL.String())
		if err != nil {
			t.Errorf("pgtest: connect to drop %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	u := *c.baseURL
	u.Path = "/" + name
	return u.String()
}

// SocketURL rewrites a URL from Database to reach the server through its
// unix socket, for a client in another network namespace, where
// 127.0.0.1 is not this one's. It returns the URL unchanged when the
// server is PICKET_TEST_POSTGRES's.
func (c *Cluster) SocketURL(dbURL string) string {
	if c.sock == "" {
		return dbURL
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return dbURL
	}
	q := u.Query()
	q.Set("host", c.sock)
	q.Set("port", u.Port())
	u.RawQuery = q.Encode()
	u.Host = ""
	return u.String()
}

func (c *Cluster) start() error {
	if env := os.Getenv("PICKET_TEST_POSTGRES"); env != "" {
		u, err := url.Parse(env)
		if err != nil {
			return fmt.Errorf("PICKET_TEST_POSTGRES: %w", err)
		}
		c.baseURL = u
		return nil
	}
	bin, err := findBin()
	if err != nil {
		c.skip = true
		return err
	}
	var cred *syscall.Credential
	var uid, gid int
	if os.Geteuid() == 0 {
		nobody, err := user.Lookup("nobody")
		if err != nil {
			return fmt.Errorf("running as root and no user nobody to run postgres as: %w", err)
		}
		uid, _ = strconv.Atoi(nobody.Uid)
		gid, _ = strconv.Atoi(nobody.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "picket-pgtest-")
	if err != nil {
		return err
	}
	c.dir = dir
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	if cred != nil {
		for _, d := range []string{dir, data, sock} {
			if err := os.Chown(d, uid, gid); err != nil {
				return err
			}
		}
	}
	run := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.Env = []string{"LC_ALL=C", "LANG=C", "PATH=" + bin + ":/usr/bin:/bin", "HOME=" + dir}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
		return cmd
	}
	if out, err := run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "-N").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	c.sock = sock
	c.cmd = run("postgres", "-D", data, "-p", strconv.Itoa(port), "-k", sock,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=128MB",
		"-c", "max_locks_per_transaction=256", "-c", "log_min_messages=warning")
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return err
	}
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	c.exited = make(chan struct{})
	go func() {
		_ = c.cmd.Wait()
		logf.Close()
		close(c.exited)
	}()
	c.baseURL = &url.URL{Scheme: "postgres", User: url.User("postgres"),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Path: "/postgres",
		RawQuery: "sslmode=disable"}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.baseURL.String())
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-c.exited:
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			return fmt.Errorf("postgres exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after 60s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the cluster, if it was started, and removes its files.
func (c *Cluster) Stop() error {
	if c.cmd == nil || c.cmd.Process == nil {
		if c.dir != "" {
			return os.RemoveAll(c.dir)
		}
		return nil
	}
	// SIGINT is PostgreSQL's fast shutdown.
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
	}
	return os.RemoveAll(c.dir)
}

// findBin returns the newest /usr/lib/postgresql/*/bin holding initdb and
// postgres, or the directory of initdb on PATH.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or PATH")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ServerCPU is the CPU time (user and system) the cluster's processes
// have used so far, exited backends included; 0 for a server this package
// did not start. Benchmarks add it to their own to count a store's whole
// cost on a shared machine.
func (c *Cluster) ServerCPU() time.Duration {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	pid := c.cmd.Process.Pid
	ticks := func(p string) (self, children int64, ppid int) {
		b, err := os.ReadFile(filepath.Join("/proc", p, "stat"))
		if err != nil {
			return 0, 0, 0
		}
		// Fields after the parenthesised command name.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			return 0, 0, 0
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 15 {
			return 0, 0, 0
		}
		atoi := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
		// f[1] is ppid; utime, stime, cutime, cstime are f[11..14].
		return atoi(f[11]) + atoi(f[12]), atoi(f[13]) + atoi(f[14]), int(atoi(f[1]))
	}
	self, children, _ := ticks(strconv.Itoa(pid))
	total := self + children
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		if s, _, ppid := ticks(p.Name()); ppid == pid {
			total += s
		}
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(total) * time.Second / hz
}

// execer runs a statement: a connection or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Outage makes the database at dbURL (from Database) unavailable, as a
// restart or a failover of the server makes it for its clients: it
// refuses new connections and the sessions in it are ended. The other
// tests' databases on the cluster are untouched. With keepLocks the
// sessions holding advisory locks survive (a client's pooled connections
// broke, its lock session did not). It returns the function that ends the
// outage; the test's cleanup ends it too, if the test did not.
func Outage(t testing.TB, dbURL string, keepLocks bool) (end func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("pgtest: outage: %v", err)
	}
	// A session cannot make the database it is in refuse connections.
	db := cfg.Database
	cfg.Database = "postgres"
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgtest: outage: connect: %v", err)
	}
	ident := pgx.Identifier{db}.Sanitize()
	// New sessions are refused from the commit of the ALTER, and the
	// open ones ended by the same transaction, just before it commits:
	// ended after the commit, as they were, they could still answer a
	// round in between, and the outage began twice (logged twice). A
	// session a killed client opens in the fraction of a millisecond
	// before the commit is ended by the second call, after it.
	terminate := func(q execer) error {
		_, err := q.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = $1 AND NOT ($2 AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted))`,
			db, keepLocks)
		return err
	}
	err = pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `ALTER DATABASE `+ident+` ALLOW_CONNECTIONS false`); err != nil {
			return err
		}
		return terminate(tx)
	})
	if err == nil {
		err = terminate(admin)
	}
	if err != nil {
		admin.Close(ctx)
		t.Fatalf("pgtest: outage: %v", err)
	}
	var once sync.Once
	end = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			defer admin.Close(ctx)
			if _, err := admin.Exec(ctx, `ALTER DATABASE `+ident+` ALLOW_CONNECTIONS true`); err != nil {
				t.Errorf("pgtest: end of outage: %v", err)
			}
		})
	}
	t.Cleanup(end)
	return end
}
