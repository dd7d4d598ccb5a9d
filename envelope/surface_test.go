package envelope

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// maxExported bounds the package's exported names (top-level identifiers
// and methods), so that the API stays narrow (issue 13: age's stream
// package has 5, minio/sio 16; issue 13 asks at most 30).
const maxExported = 30

func TestExportedSurface(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, exported(f)...)
	}
	sort.Strings(names)
	if len(names) > maxExported {
		t.Errorf("%d exported names, want at most %d: %s", len(names), maxExported, strings.Join(names, " "))
	}
	t.Logf("%d exported names: %s", len(names), strings.Join(names, " "))
}

// exported lists f's exported top-level names and exported methods of
// exported types.
func exported(f *ast.File) []string {
	var names []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			if d.Recv != nil {
				recv := d.Recv.List[0].Type
				if s, ok := recv.(*ast.StarExpr); ok {
					recv = s.X
				}
				if id := recv.(*ast.Ident); id.IsExported() {
					names = append(names, id.Name+"."+d.Name.Name)
				}
			} else {
				names = append(names, d.Name.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() {
						names = append(names, s.Name.Name)
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() {
							names = append(names, n.Name)
						}
					}
				}
			}
		}
	}
	return names
}
