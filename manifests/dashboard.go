package manifests

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// DashboardJSON is the Grafana dashboard for svcmirror (uid "svcmirror"), ready to import or
// to put in a ConfigMap for Grafana's dashboard sidecar.
//
//go:embed dashboard.json
var DashboardJSON []byte

// DashboardMetricNames returns every metric name the dashboard's queries use (sorted, unique), with
// histogram suffixes _bucket/_sum/_count stripped, so tests can check the daemon exports each.
//
// The expressions read are every panel's targets[].expr, including panels nested in collapsed
// rows' "panels", and the templating variables' queries (Grafana's label_values(metric, label)
// and query_result(expr) forms; label_values(label) names no metric).
//
// Names are found without a full PromQL parser, in two steps. First everything that can hold
// an identifier that is not a metric is blanked out: comments, string literals, label matchers
// {...}, range and subquery selectors [...], Grafana variables ($name, ${name}), and label lists
// after by, without, on, ignoring, group_left and group_right. What is left is function calls,
// operators, numbers and metric names. Second, each identifier ([a-zA-Z_:][a-zA-Z0-9_:]*, not
// part of a number or duration such as 0.99 or 5m) is a metric name unless it is followed by "("
// (a function or an aggregation: rate, sum, histogram_quantile, time, ...) or is a PromQL
// keyword (by, and, offset, bool, group_left, inf, ...). Histogram series suffixes are then
// stripped, so histogram_quantile over x_bucket reports x.
func DashboardMetricNames() ([]string, error) {
	exprs, err := dashboardExprs(DashboardJSON)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, e := range exprs {
		names, err := metricNames(e)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			seen[n] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// grafanaDashboard is the part of a dashboard's JSON that holds queries.
type grafanaDashboard struct {
	UID        string         `json:"uid"`
	Title      string         `json:"title"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []grafanaVariable `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Datasource  json.RawMessage `json:"datasource"`
	Targets     []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a row's panels while the row is collapsed
}

type grafanaVariable struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Query is a string in older dashboards and {"query": "...", ...} in newer ones; for a
	// datasource variable it is the plugin type.
	Query json.RawMessage `json:"query"`
}

// queryString returns a query variable's query text, in either of its encodings.
func (v grafanaVariable) queryString() (string, error) {
	if len(v.Query) == 0 {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v.Query, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &obj); err != nil {
		return "", fmt.Errorf("variable %q: query is neither a string nor an object with a query: %w", v.Name, err)
	}
	return obj.Query, nil
}

// parseDashboard decodes a dashboard's JSON.
func parseDashboard(data []byte) (*grafanaDashboard, error) {
	var d grafanaDashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return &d, nil
}

// allPanels returns every panel, rows and the panels inside collapsed rows included, in order.
func allPanels(ps []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// dashboardExprs returns the PromQL of every panel target and every query variable.
func dashboardExprs(data []byte) ([]string, error) {
	d, err := parseDashboard(data)
	if err != nil {
		return nil, err
	}
	var exprs []string
	for _, p := range allPanels(d.Panels) {
		for _, t := range p.Targets {
			if strings.TrimSpace(t.Expr) != "" {
				exprs = append(exprs, t.Expr)
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, err := v.queryString()
		if err != nil {
			return nil, err
		}
		e, err := variableExpr(q)
		if err != nil {
			return nil, fmt.Errorf("variable %q: %w", v.Name, err)
		}
		if e != "" {
			exprs = append(exprs, e)
		}
	}
	return exprs, nil
}

// variableExpr returns the PromQL inside a Grafana Prometheus variable query: the series
// selector of label_values(selector, label), the expression of query_result(expr), nothing for
// label_values(label), label_names(...) and metrics(regex), whose arguments are not metric names.
func variableExpr(q string) (string, error) {
	q = strings.TrimSpace(q)
	fn, args, ok := strings.Cut(q, "(")
	if !ok || !strings.HasSuffix(q, ")") {
		return q, nil // a plain PromQL expression (the "classic query" form)
	}
	args = args[:len(args)-1]
	switch strings.TrimSpace(fn) {
	case "label_values":
		// The label is the last top-level argument; commas inside {...} or strings don't count.
		blanked, err := blank(args)
		if err != nil {
			return "", err
		}
		i := strings.LastIndex(blanked, ",")
		if i < 0 {
			return "", nil
		}
		return args[:i], nil
	case "query_result":
		return args, nil
	case "label_names", "metrics":
		return "", nil
	}
	return q, nil
}

// promKeywords are PromQL words that are not metric names and can stand without a "(" after
// them. Functions and aggregation operators are told apart by the "(" that follows them
// (once by/without clauses are removed), so they need not be listed.
var promKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true,
	"start": true, "end": true, "inf": true, "nan": true,
}

// labelListRE matches a modifier with its parenthesized list of label names.
var labelListRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)

// grafanaVarRE matches Grafana template variables and macros.
var grafanaVarRE = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z0-9_]+`)

// histogramSuffixes are the series suffixes of a histogram, stripped from metric names.
var histogramSuffixes = []string{"_bucket", "_sum", "_count"}

// metricNames returns the metric names one PromQL expression uses, unsorted and possibly
// repeated.
func metricNames(expr string) ([]string, error) {
	s, err := blank(expr)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", expr, err)
	}
	s = grafanaVarRE.ReplaceAllStringFunc(s, spaces)
	s = labelListRE.ReplaceAllStringFunc(s, spaces)

	var names []string
	for i := 0; i < len(s); {
		c := s[i]
		if !isWordByte(c) && c != '.' {
			i++
			continue
		}
		// A word: an identifier, or a number or duration (0.99, 1e-3, 5m, 0x1f).
		j := i
		for j < len(s) && (isWordByte(s[j]) || s[j] == '.') {
			j++
		}
		word := s[i:j]
		i = j
		if !isIdentStart(word[0]) || strings.Contains(word, ".") {
			continue
		}
		k := j
		for k < len(s) && isSpace(s[k]) {
			k++
		}
		if k < len(s) && s[k] == '(' {
			continue // a function or an aggregation operator
		}
		if promKeywords[strings.ToLower(word)] {
			continue
		}
		for _, suf := range histogramSuffixes {
			if strings.HasSuffix(word, suf) && len(word) > len(suf) {
				word = strings.TrimSuffix(word, suf)
				break
			}
		}
		names = append(names, word)
	}
	return names, nil
}

// blank returns expr with comments, string literals, label matchers {...} and range or
// subquery selectors [...] replaced by spaces, so byte offsets are kept. It reports unclosed
// strings and brackets.
func blank(expr string) (string, error) {
	b := []byte(expr)
	var open []byte // stack of '{' and '['
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for ; j < len(b) && b[j] != c; j++ {
				if b[j] == '\\' && c != '`' {
					j++
				}
			}
			if j >= len(b) {
				return "", fmt.Errorf("unterminated string at offset %d", i)
			}
			fill(b[i : j+1])
			i = j
		case c == '#':
			j := i
			for j < len(b) && b[j] != '\n' {
				j++
			}
			fill(b[i:j])
			i = j - 1
		case c == '{' || c == '[':
			open = append(open, c)
			b[i] = ' '
		case c == '}' || c == ']':
			want := byte('{')
			if c == ']' {
				want = '['
			}
			if len(open) == 0 || open[len(open)-1] != want {
				return "", fmt.Errorf("unbalanced %q at offset %d", c, i)
			}
			open = open[:len(open)-1]
			b[i] = ' '
		case len(open) > 0:
			b[i] = ' '
		}
	}
	if len(open) > 0 {
		return "", fmt.Errorf("unclosed %q", open[len(open)-1])
	}
	return string(b), nil
}

func fill(b []byte) {
	for i := range b {
		b[i] = ' '
	}
}

func spaces(s string) string { return strings.Repeat(" ", len(s)) }

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isWordByte(c byte) bool { return isIdentStart(c) || ('0' <= c && c <= '9') }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
