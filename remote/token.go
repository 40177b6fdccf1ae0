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

// jwtClaims is the JSON of a token's payload.
type jwtClaims struct {
	Subject   string          `json:"sub"`
	IssuedAt  *float64        `json:"iat"`
	Expiry    *float64        `json:"exp"`
	Audiences json.RawMessage `json:"aud"`
}

// ParseTokenClaims decodes a ServiceAccount JWT's payload without
// verifying it. It fails for anything that is not a three-part JWT whose
// subject is a ServiceAccount.
func ParseTokenClaims(token string) (TokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return TokenClaims{}, errors.New("token is not a JWT (want three dot-separated parts)")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return TokenClaims{}, fmt.Errorf("token payload is not base64url: %w", err)
	}
	var raw jwtClaims
	if err := json.Unmarshal(payload, &raw); err != nil {
		return TokenClaims{}, fmt.Errorf("token payload is not JSON: %w", err)
	}
	rest, ok := strings.CutPrefix(raw.Subject, serviceAccountSubjectPrefix)
	ns, name, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || ns == "" || name == "" || strings.Contains(name, ":") {
		return TokenClaims{}, fmt.Errorf("token subject %q is not system:serviceaccount:<namespace>:<name>", raw.Subject)
	}
	c := TokenClaims{Namespace: ns, ServiceAccount: name}
	if raw.IssuedAt != nil {
		c.IssuedAt = unixTime(*raw.IssuedAt)
	}
	if raw.Expiry != nil {
		c.Expiry = unixTime(*raw.Expiry)
	}
	if len(raw.Audiences) > 0 {
		var one string
		if json.Unmarshal(raw.Audiences, &one) == nil {
			c.Audiences = []string{one}
		} else if err := json.Unmarshal(raw.Audiences, &c.Audiences); err != nil {
			return TokenClaims{}, fmt.Errorf("token aud claim is neither a string nor a list: %w", err)
		}
	}
	return c, nil
}

func unixTime(seconds float64) time.Time {
	return time.Unix(int64(seconds), 0).UTC()
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
