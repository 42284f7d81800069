package nel

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/netpath"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite"
)

// register adds endpoint name of team, and the team when it is new.
func register(t testing.TB, s *sqlite.Store, team, name, target string) {
	t.Helper()
	if err := s.CreateTeam(context.Background(), results.Team{Name: team, TokenHash: []byte("h-" + team)}); err != nil && !errors.Is(err, results.ErrConflict) {
		t.Fatal(err)
	}
	if err := s.PutEndpoint(context.Background(), results.Endpoint{Team: team, Name: name, Target: target, Regions: []string{"all"}}); err != nil {
		t.Fatal(err)
	}
}

// asnTable is a real ip2asn table with the documentation networks the
// tests' clients come from.
func asnTable(t testing.TB) *netpath.Table {
	t.Helper()
	const tsv = "198.51.100.0\t198.51.100.255\t3320\tDE\tDTAG Deutsche Telekom AG\n" +
		"203.0.113.0\t203.0.113.255\t7922\tUS\tCOMCAST-7922\n" +
		"2001:db8::\t2001:db8:ffff:ffff:ffff:ffff:ffff:ffff\t3320\tDE\tDTAG Deutsche Telekom AG\n"
	tab, err := netpath.ReadTable("test.tsv", strings.NewReader(tsv))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// testCert is a self-signed certificate for names, and the base64 SHA-256
// of its public key as Chromium's --ignore-certificate-errors-spki-list
// wants it.
func testCert(t testing.TB, names ...string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, base64.StdEncoding.EncodeToString(sum[:])
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
