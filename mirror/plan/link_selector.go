package plan

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// selector reads a metav1.LabelSelector-shaped object at m[key].
//
// A missing, null or empty selector is labels.Nothing(). This differs from
// metav1.LabelSelectorAsSelector, which turns an empty selector into
// Everything: for a Link that would export every Service of the remote
// cluster, so we never let an omission mean "all".
//
// Each matchLabels entry and matchExpressions item is checked on its own so
// that a problem names the exact item at fault.
func (p *fieldParser) selector(m map[string]any, key, path string) labels.Selector {
	obj := p.object(m, key, path)
	if obj == nil {
		return labels.Nothing()
	}
	p.onlyKeys(obj, path, "matchLabels", "matchExpressions")
	before := len(p.problems)
	ls := &metav1.LabelSelector{}

	matchLabels := p.object(obj, "matchLabels", path+".matchLabels")
	for _, k := range sortedKeys(matchLabels) {
		kpath := fmt.Sprintf("%s.matchLabels[%q]", path, k)
		v, ok := matchLabels[k].(string)
		if !ok {
			p.addf(kpath, "must be a string, not %s", jsonKind(matchLabels[k]))
			continue
		}
		if ls.MatchLabels == nil {
			ls.MatchLabels = map[string]string{}
		}
		ls.MatchLabels[k] = v
		p.checkSelector(&metav1.LabelSelector{MatchLabels: map[string]string{k: v}}, kpath)
	}

	switch exprs := obj["matchExpressions"].(type) {
	case nil:
	case []any:
		for i, item := range exprs {
			ipath := fmt.Sprintf("%s.matchExpressions[%d]", path, i)
			expr, ok := p.expression(item, ipath)
			if !ok {
				continue
			}
			ls.MatchExpressions = append(ls.MatchExpressions, expr)
			p.checkSelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{expr}}, ipath)
		}
	default:
		p.addf(path+".matchExpressions", "must be a list, not %s", jsonKind(exprs))
	}

	if len(p.problems) > before || len(ls.MatchLabels)+len(ls.MatchExpressions) == 0 {
		return labels.Nothing()
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil { // unreachable: every part was checked above
		p.addf(path, "%v", err)
		return labels.Nothing()
	}
	return sel
}

// expression reads one matchExpressions item.
func (p *fieldParser) expression(item any, path string) (metav1.LabelSelectorRequirement, bool) {
	obj, ok := item.(map[string]any)
	if !ok {
		p.addf(path, "must be an object, not %s", jsonKind(item))
		return metav1.LabelSelectorRequirement{}, false
	}
	before := len(p.problems)
	p.onlyKeys(obj, path, "key", "operator", "values")
	expr := metav1.LabelSelectorRequirement{
		Key:      p.requiredStr(obj, "key", path+".key"),
		Operator: metav1.LabelSelectorOperator(p.requiredStr(obj, "operator", path+".operator")),
		Values:   p.strListKeepEmpty(obj, "values", path+".values"),
	}
	return expr, len(p.problems) == before
}

// checkSelector validates one piece of a selector with the API machinery's
// own rules (operators, key and value syntax, value counts).
func (p *fieldParser) checkSelector(ls *metav1.LabelSelector, path string) {
	if _, err := metav1.LabelSelectorAsSelector(ls); err != nil {
		p.addf(path, "%v", err)
	}
}

// strListKeepEmpty is strList for selector values, where "" is a legal label
// value and must be kept.
func (p *fieldParser) strListKeepEmpty(m map[string]any, key, path string) []string {
	list, ok := m[key].([]any)
	if !ok {
		return p.strList(m, key, path) // reports the type problem, or nil for absent
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		s, ok := item.(string)
		if !ok {
			p.addf(fmt.Sprintf("%s[%d]", path, i), "must be a string, not %s", jsonKind(item))
			continue
		}
		out = append(out, s)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
