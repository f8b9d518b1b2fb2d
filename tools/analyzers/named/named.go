// Package named tells the shopmesh analyzers which declared type a
// types.Type is, seen through aliases and, where asked, one pointer: the
// one question several of them ask (is this context.Context, *http.Request,
// *grpcx.Server, a testing type?).
package named

import "go/types"

// Object returns the declared type that t names, through aliases, or nil
// when t is not a named type of a package (a universe type such as error
// has none).
func Object(t types.Type) *types.TypeName {
	n, ok := types.Unalias(t).(*types.Named)
	if !ok || n.Obj().Pkg() == nil {
		return nil
	}
	return n.Obj()
}

// Is reports whether t is the type name declared in the package whose
// import path is pkgPath.
func Is(t types.Type, pkgPath, name string) bool {
	o := Object(t)
	return o != nil && o.Pkg().Path() == pkgPath && o.Name() == name
}

// Deref returns the element type of t when t is a pointer, else t.
func Deref(t types.Type) types.Type {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		return p.Elem()
	}
	return t
}
