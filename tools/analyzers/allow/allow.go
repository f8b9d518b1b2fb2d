// Package allow reports the shopmesh analyzers' findings, each unless
// silenced the one way there is: a comment on the line of the finding,
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

// Reportf reports a finding of analyzer at pos, unless its line carries
// an allow comment for analyzer with a reason.
func Reportf(pass *analysis.Pass, pos token.Pos, analyzer, format string, args ...any) {
	if !allowed(pass, pos, analyzer) {
		pass.Reportf(pos, format, args...)
	}
}

// allowed reports whether the line of pos carries an allow comment for
// analyzer with a reason. A comment naming the analyzer without a reason
// is reported as a finding of its own: an exception must say why.
func allowed(pass *analysis.Pass, pos token.Pos, analyzer string) bool {
	file := fileOf(pass, pos)
	if file == nil {
		return false
	}
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

// fileOf returns the file of the package that holds pos.
func fileOf(pass *analysis.Pass, pos token.Pos) *ast.File {
	for _, f := range pass.Files {
		if f.FileStart <= pos && pos <= f.FileEnd {
			return f
		}
	}
	return nil
}

// InPackage reports whether the package analyzed is the one whose import
// path ends in suffix, or that package's external test package.
func InPackage(pass *analysis.Pass, suffix string) bool {
	return strings.HasSuffix(strings.TrimSuffix(pass.Pkg.Path(), "_test"), suffix)
}
