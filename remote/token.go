package remote

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// serviceAccountSubjectPrefix starts the subject of every ServiceAccount
// token: "system:serviceaccount:<namespace>:<name>".
const serviceAccountSubjectPrefix = "system:serviceaccount:"

// TokenClaims are the claims of a ServiceAccount token that renewal needs.
// They are read without verifying the signature: the token is our own
// credential, read from our own Secret, and only the remote API server can
// verify it anyway; nothing here grants access on the strength of a claim.
type TokenClaims struct {
	// Namespace and ServiceAccount come from the subject,
	// system:serviceaccount:<namespace>:<name>.
	Namespace, ServiceAccount string
	// IssuedAt is the iat claim; zero when absent.
	IssuedAt time.Time
	// Expiry is the exp claim; zero for a token that never expires (the
	// legacy kubernetes.io/service-account-token Secrets).
	Expiry time.Time
	// Audiences are the aud claim, one string or a list in the token.
	Audiences []string
}

// Expires reports whether the token has an expiry at all.
func (c TokenClaims) Expires() bool { return !c.Expiry.IsZero() }

// Lifetime is the life the token was issued with (exp - iat); zero when
// either claim is missing.
func (c TokenClaims) Lifetime() time.Duration {
	if c.IssuedAt.IsZero() || c.Expiry.IsZero() {
		return 0
	}
	return c.Expiry.Sub(c.IssuedAt)
}

// ErrNotJWT means a token is opaque (a static token, say): it has no
// claims to read.
var ErrNotJWT = errors.New("not a JWT")

// JWTClaims are the claims of any bearer token that svcmirror reads: for
// renewal here, and for `svcmirror check`'s report of the token's life.
type JWTClaims struct {
	// Subject is the sub claim, system:serviceaccount:<namespace>:<name>
	// for a ServiceAccount token.
	Subject string
	// IssuedAt is the iat claim (nbf when iat is missing); zero when
	// neither is there.
	IssuedAt time.Time
	// Expiry is the exp claim; zero when absent.
	Expiry time.Time
	// Audiences are the aud claim, one string or a list in the token.
	Audiences []string
}

// ServiceAccount splits a ServiceAccount subject into its namespace and
// name; ok is false for any other subject.
func (c JWTClaims) ServiceAccount() (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(c.Subject, serviceAccountSubjectPrefix)
	if !found {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	return namespace, name, ok && namespace != "" && name != "" && !strings.Contains(name, ":")
}

// DecodeToken reads a JWT's payload without verifying its signature (see
// TokenClaims for why that is enough). A token that is not a three-part
// JWT with a base64url JSON payload is ErrNotJWT, wrapped with what is
// wrong; a JWT whose time or audience claims have the wrong type is a
// plain error.
func DecodeToken(token string) (JWTClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return JWTClaims{}, fmt.Errorf("%w (want three dot-separated parts)", ErrNotJWT)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return JWTClaims{}, fmt.Errorf("%w: payload is not base64url: %v", ErrNotJWT, err)
	}
	var raw struct {
		Subject   string          `json:"sub"`
		IssuedAt  json.RawMessage `json:"iat"`
		NotBefore json.RawMessage `json:"nbf"`
		Expiry    json.RawMessage `json:"exp"`
		Audiences json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return JWTClaims{}, fmt.Errorf("%w: payload is not a JSON object: %v", ErrNotJWT, err)
	}
	c := JWTClaims{Subject: raw.Subject}
	if c.Expiry, err = numericDate(raw.Expiry); err != nil {
		return JWTClaims{}, errors.New("its exp claim is not a number")
	}
	if c.IssuedAt, err = numericDate(raw.IssuedAt); err != nil {
		return JWTClaims{}, errors.New("its iat claim is not a number")
	}
	if c.IssuedAt.IsZero() {
		if c.IssuedAt, err = numericDate(raw.NotBefore); err != nil {
			return JWTClaims{}, errors.New("its nbf claim is not a number")
		}
	}
	if len(raw.Audiences) > 0 && string(raw.Audiences) != "null" {
		var one string
		if json.Unmarshal(raw.Audiences, &one) == nil {
			c.Audiences = []string{one}
		} else if err := json.Unmarshal(raw.Audiences, &c.Audiences); err != nil {
			return JWTClaims{}, fmt.Errorf("its aud claim is neither a string nor a list: %w", err)
		}
	}
	return c, nil
}

// ParseTokenClaims decodes a ServiceAccount JWT's payload without
// verifying it. It fails for anything that is not a three-part JWT whose
// subject is a ServiceAccount.
func ParseTokenClaims(token string) (TokenClaims, error) {
	jwt, err := DecodeToken(token)
	if err != nil {
		return TokenClaims{}, fmt.Errorf("token: %w", err)
	}
	ns, name, ok := jwt.ServiceAccount()
	if !ok {
		return TokenClaims{}, fmt.Errorf("token subject %q is not system:serviceaccount:<namespace>:<name>", jwt.Subject)
	}
	return TokenClaims{Namespace: ns, ServiceAccount: name, IssuedAt: jwt.IssuedAt, Expiry: jwt.Expiry, Audiences: jwt.Audiences}, nil
}

// numericDate reads a JWT NumericDate (seconds since the epoch, possibly
// fractional) as UTC; an absent claim is the zero time.
func numericDate(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, int64(f*float64(time.Second))).UTC(), nil
}

// currentAuthInfo returns the user entry the kubeconfig's current context
// uses, and its name.
func currentAuthInfo(cfg *clientcmdapi.Config) (string, *clientcmdapi.AuthInfo, error) {
	ctxName := cfg.CurrentContext
	if ctxName == "" && len(cfg.Contexts) == 1 {
		for name := range cfg.Contexts {
			ctxName = name
		}
	}
	kctx, ok := cfg.Contexts[ctxName]
	if !ok {
		return "", nil, fmt.Errorf("kubeconfig has no context %q", ctxName)
	}
	user, ok := cfg.AuthInfos[kctx.AuthInfo]
	if !ok {
		return "", nil, fmt.Errorf("kubeconfig context %q names user %q, which it does not define", ctxName, kctx.AuthInfo)
	}
	return kctx.AuthInfo, user, nil
}

// BearerToken returns the bearer token of the kubeconfig's current user.
// It fails when that user authenticates otherwise (client certificate,
// token file, exec plugin), since there is then no token to renew.
func BearerToken(kubeconfig []byte) (string, error) {
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return "", fmt.Errorf("kubeconfig does not parse: %w", err)
	}
	name, user, err := currentAuthInfo(cfg)
	if err != nil {
		return "", err
	}
	if user.Token == "" {
		return "", fmt.Errorf("kubeconfig user %q has no inline bearer token", name)
	}
	return user.Token, nil
}

// ReplaceToken returns kubeconfig with its current user's bearer token
// replaced by token; every other entry is kept as it was.
func ReplaceToken(kubeconfig []byte, token string) ([]byte, error) {
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig does not parse: %w", err)
	}
	name, user, err := currentAuthInfo(cfg)
	if err != nil {
		return nil, err
	}
	if user.Token == "" {
		return nil, fmt.Errorf("kubeconfig user %q has no inline bearer token to replace", name)
	}
	user.Token = token
	return clientcmd.Write(*cfg)
}
