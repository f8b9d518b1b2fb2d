// Package allow reads the one way to silence a shopmesh analyzer: a comment
// on the line of the finding,
//
//	//shopmesh:allow <analyzer> <why>
//
// naming the analyzer and giving the reason, so every exception says why
// it is one where it is made.
package allow

import (
	"go/ast"
	"go/token"
	"strings"

	"golang.org/x/tools/go/analysis"
)

const directive = "//shopmesh:allow "

// Allowed reports whether the line of pos carries an allow comment for
// analyzer with a reason. A comment naming the analyzer without a reason
// is reported as a finding of its own: an exception must say why.
func Allowed(pass *analysis.Pass, file *ast.File, pos token.Pos, analyzer string) bool {
	line := pass.Fset.Position(pos).Line
	for _, group := range file.Comments {
		for _, c := range group.List {
			if pass.Fset.Position(c.Pos()).Line != line || !strings.HasPrefix(c.Text, directive) {
				continue
			}
			name, reason, _ := strings.Cut(strings.TrimPrefix(c.Text, directive), " ")
			if name != analyzer {
				continue
			}
			if strings.TrimSpace(reason) == "" {
				pass.Reportf(c.Pos(), "%s: an allow comment must give its reason: //shopmesh:allow %s <why>", analyzer, analyzer)
				return false
			}
			return true
		}
	}
	return false
}

// IsTest reports whether pos lies in a _test.go file.
func IsTest(pass *analysis.Pass, pos token.Pos) bool {
	return strings.HasSuffix(pass.Fset.Position(pos).Filename, "_test.go")
}
