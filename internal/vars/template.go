package vars

import "fmt"

// Template is a string with embedded variables ("/v2$uri?id=$arg_id",
// "${http_x_user}-suffix"), compiled once. As in APISIX's resolve_var, a
// variable is '$' followed by a name of letters, digits and '_' (or the name
// in braces), "\$" is a literal '$', and a variable the request lacks expands
// to the empty string.
type Template struct {
	parts []part
	// Static is set when the template has no variables.
	Static bool
	src    string
}

type part struct {
	lit string
	v   Var
	isV bool
}

func isNameByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// CompileTemplate parses s. An unknown variable name is an error.
func CompileTemplate(s string) (*Template, error) {
	t := &Template{src: s}
	lit := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && s[i+1] == '$' {
			lit = append(lit, '$')
			i++
			continue
		}
		if c != '$' {
			lit = append(lit, c)
			continue
		}
		var name string
		j := i + 1
		if j < len(s) && s[j] == '{' {
			k := j + 1
			for k < len(s) && s[k] != '}' {
				k++
			}
			if k == len(s) {
				return nil, fmt.Errorf("unterminated ${ in %q", s)
			}
			name, i = s[j+1:k], k
		} else {
			k := j
			for k < len(s) && isNameByte(s[k]) {
				k++
			}
			name, i = s[j:k], k-1
		}
		if name == "" {
			lit = append(lit, '$')
			continue
		}
		v, err := Parse(name)
		if err != nil {
			return nil, fmt.Errorf("in %q: %w", s, err)
		}
		if len(lit) > 0 {
			t.parts = append(t.parts, part{lit: string(lit)})
			lit = lit[:0]
		}
		t.parts = append(t.parts, part{v: v, isV: true})
	}
	if len(lit) > 0 {
		t.parts = append(t.parts, part{lit: string(lit)})
	}
	t.Static = true
	for _, p := range t.parts {
		if p.isV {
			t.Static = false
		}
	}
	return t, nil
}

// String is the template's source.
func (t *Template) String() string { return t.src }

// Append expands t for c onto dst.
func (t *Template) Append(dst []byte, c *Context) []byte {
	for _, p := range t.parts {
		if !p.isV {
			dst = append(dst, p.lit...)
			continue
		}
		if v, ok := c.Get(p.v); ok {
			dst = append(dst, v...)
		}
	}
	return dst
}
