import { describe, it, expect } from '@jest/globals';
import ts from 'typescript';

// "Public API: JSDoc on every export": every symbol a package entry point (package.json "exports") exports, from our
// own code, carries a documentation comment. Read with the TypeScript compiler over the sources.

const ENTRY_POINTS = ['index', 'admin', 'opentelemetry', 'prometheus', 'redis', 'storage', 'terminus', 'testing/index', 'typeorm'].map((e) => `lib/${e}.ts`);

describe('the public API', () => {
  it('has a JSDoc comment on every export of every entry point', () => {
    const program = ts.createProgram(ENTRY_POINTS, {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      experimentalDecorators: true,
      skipLibCheck: true,
      noEmit: true,
    });
    const checker = program.getTypeChecker();
    const undocumented: string[] = [];
    let checked = 0;
    for (const entry of ENTRY_POINTS) {
      const module = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
      for (const exported of checker.getExportsOfModule(module)) {
        const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
        const declarations = symbol.getDeclarations() ?? [];
        if (declarations.some((d) => d.getSourceFile().fileName.includes('/node_modules/'))) continue; // re-exported from a dependency
        checked++;
        if (ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() === '') {
          undocumented.push(`${entry}: ${exported.name}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(200);
    expect(undocumented).toEqual([]);
  });
});
