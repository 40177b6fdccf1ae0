package remote

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// fakeJWT is an unsigned token with the given claims, shaped like the API
// server's (the signature is never checked here).
func fakeJWT(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + enc(payload) + "." + enc([]byte("signature"))
}

func saToken(t testing.TB, iat, exp time.Time) string {
	claims := map[string]any{
		"sub": "system:serviceaccount:linkerd-multicluster:svcmirror-remote-reader",
		"aud": []string{"https://kubernetes.default.svc.cluster.local"},
		"iat": iat.Unix(),
	}
	if !exp.IsZero() {
		claims["exp"] = exp.Unix()
	}
	return fakeJWT(t, claims)
}

func testKubeconfig(t testing.TB, token string) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["target"] = &clientcmdapi.Cluster{Server: "https://target.example:6443", CertificateAuthorityData: []byte("CA PEM")}
	cfg.AuthInfos["reader"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.AuthInfos["other"] = &clientcmdapi.AuthInfo{Token: "someone-else"}
	cfg.Contexts["target"] = &clientcmdapi.Context{Cluster: "target", AuthInfo: "reader"}
	cfg.CurrentContext = "target"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseTokenClaims(t *testing.T) {
	iat := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	exp := iat.Add(24 * time.Hour)
	for _, tc := range []struct {
		name    string
		token   string
		want    TokenClaims
		wantErr string
	}{
		{"a bound token has its subject, times and audiences", saToken(t, iat, exp), TokenClaims{
			Namespace: "linkerd-multicluster", ServiceAccount: "svcmirror-remote-reader",
			IssuedAt: iat, Expiry: exp, Audiences: []string{"https://kubernetes.default.svc.cluster.local"},
		}, ""},
		{"a legacy token has no expiry", fakeJWT(t, map[string]any{"sub": "system:serviceaccount:ns:sa", "aud": "one"}), TokenClaims{
			Namespace: "ns", ServiceAccount: "sa", Audiences: []string{"one"},
		}, ""},
		{"a token that is not a JWT is refused", "abc.def", TokenClaims{}, "not a JWT"},
		{"a payload that is not base64 is refused", "a.!!!.c", TokenClaims{}, "not base64url"},
		{"a user token is refused", fakeJWT(t, map[string]any{"sub": "alice"}), TokenClaims{}, "not system:serviceaccount"},
		{"a subject with no name is refused", fakeJWT(t, map[string]any{"sub": "system:serviceaccount:ns:"}), TokenClaims{}, "not system:serviceaccount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTokenClaims(tc.token)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Namespace != tc.want.Namespace || got.ServiceAccount != tc.want.ServiceAccount ||
				!got.IssuedAt.Equal(tc.want.IssuedAt) || !got.Expiry.Equal(tc.want.Expiry) || !slices.Equal(got.Audiences, tc.want.Audiences) {
				t.Fatalf("claims = %+v, want %+v", got, tc.want)
			}
		})
	}
	if c, _ := ParseTokenClaims(saToken(t, iat, exp)); c.Lifetime() != 24*time.Hour || !c.Expires() {
		t.Fatalf("lifetime = %s, expires = %v; want 24h, true", c.Lifetime(), c.Expires())
	}
}

func TestDecodeTokenReadsAnyJWT(t *testing.T) {
	for _, opaque := range []string{"svcmirror-testbed-admin-token", "a.!!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte("[1]")) + ".c"} {
		if _, err := DecodeToken(opaque); !errors.Is(err, ErrNotJWT) {
			t.Errorf("DecodeToken(%q) err = %v, want ErrNotJWT", opaque, err)
		}
	}
	c, err := DecodeToken(fakeJWT(t, map[string]any{"sub": "alice", "nbf": 1700000000.5, "exp": 1700003600}))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Unix(1700000000, 5e8).UTC(); !c.IssuedAt.Equal(want) || c.Subject != "alice" {
		t.Fatalf("claims = %+v; want subject alice issued at nbf %s", c, want)
	}
	if _, _, ok := c.ServiceAccount(); ok {
		t.Fatal("alice is not a ServiceAccount")
	}
	if ns, name, ok := (JWTClaims{Subject: "system:serviceaccount:ns:sa"}).ServiceAccount(); !ok || ns != "ns" || name != "sa" {
		t.Fatalf("ServiceAccount() = %q, %q, %v; want ns, sa, true", ns, name, ok)
	}
	_, err = DecodeToken(fakeJWT(t, map[string]any{"exp": "tomorrow"}))
	if err == nil || errors.Is(err, ErrNotJWT) || !strings.Contains(err.Error(), "exp claim") {
		t.Fatalf("a JWT with a string exp: err = %v, want a malformed-claim error that is not ErrNotJWT", err)
	}
}

func TestBearerTokenReadsTheCurrentUser(t *testing.T) {
	got, err := BearerToken(testKubeconfig(t, "the-token"))
	if err != nil || got != "the-token" {
		t.Fatalf("BearerToken = %q, %v; want the-token", got, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.AuthInfos["cert"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte("x")}
	cfg.Contexts["c"] = &clientcmdapi.Context{AuthInfo: "cert"}
	cfg.CurrentContext = "c"
	data, _ := clientcmd.Write(*cfg)
	if _, err := BearerToken(data); err == nil || !strings.Contains(err.Error(), "no inline bearer token") {
		t.Fatalf("a client-certificate user: err = %v, want no inline bearer token", err)
	}
	if _, err := BearerToken([]byte("{not yaml")); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestReplaceTokenChangesOnlyTheToken(t *testing.T) {
	before := testKubeconfig(t, "old")
	after, err := ReplaceToken(before, "new")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := clientcmd.Load(before)
	want.AuthInfos["reader"].Token = "new"
	got, err := clientcmd.Load(after)
	if err != nil {
		t.Fatal(err)
	}
	wantBytes, _ := clientcmd.Write(*want)
	gotBytes, _ := clientcmd.Write(*got)
	if string(gotBytes) != string(wantBytes) {
		t.Fatalf("kubeconfig after ReplaceToken:\n%s\nwant:\n%s", gotBytes, wantBytes)
	}
	if tok, _ := BearerToken(after); tok != "new" {
		t.Fatalf("token after replace = %q", tok)
	}
}
