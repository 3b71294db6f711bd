// C (and the C subset of C++ headers): struct/union fields, typedefs, and the declared types of
// globals, parameters and locals, so `p->` / `s.` can be limited to the fields of a struct
// defined in the file. Names in scope are not modelled for C: macros and headers make them
// unknowable without a preprocessor, so the scope monitor stays off.

import type { Node, Tree } from 'web-tree-sitter';
import { bind, newScope, newTypeSym, type FileAnalysis, type Scope, type TypeHint, type TypeSym } from './symbols';

class CExtractor {
  readonly root: Scope;
  readonly types: TypeSym[] = [];
  readonly tags = new Map<string, TypeSym>();
  readonly typedefs = new Map<string, TypeHint>();
  /** Tags defined twice with different bodies (#ifdef variants): unknown. */
  private readonly ambiguous = new Set<string>();
  private anon = 0;

  constructor(
    readonly path: string,
    rootNode: Node,
  ) {
    this.root = newScope('module', rootNode.startIndex, rootNode.endIndex, null);
  }

  visit(n: Node, scope: Scope): void {
    switch (n.type) {
      case 'function_definition': {
        const fs = newScope('function', n.startIndex, n.endIndex, scope);
        this.typeOf(n.childForFieldName('type'), scope);
        const decl = n.childForFieldName('declarator');
        const fd = decl ? this.findFunctionDeclarator(decl) : null;
        const name = fd ? this.declaredName(fd.childForFieldName('declarator')) : null;
        if (name) bind(scope, name, { kind: 'opaque' });
        for (const p of fd?.childForFieldName('parameters')?.namedChildren ?? []) {
          if (p.type !== 'parameter_declaration') continue;
          this.declare(p, fs);
        }
        const body = n.childForFieldName('body');
        if (body) this.visit(body, fs);
        return;
      }
      case 'declaration':
      case 'field_declaration':
        this.declare(n, scope);
        for (const c of n.namedChildren) if (c.type === 'init_declarator') {
          const v = c.childForFieldName('value');
          if (v) this.visit(v, scope);
        }
        return;
      case 'type_definition': {
        const hint = this.typeOf(n.childForFieldName('type'), scope);
        for (const d of n.childrenForFieldName('declarator')) {
          const name = this.declaredName(d);
          // Only a plain `typedef struct X T;` names the struct itself; pointer typedefs still lead to it.
          if (name && hint) this.typedefs.set(name, hint);
        }
        return;
      }
      case 'struct_specifier':
      case 'union_specifier':
        this.typeOf(n, scope);
        return;
      default:
        for (const c of n.namedChildren) this.visit(c, scope);
    }
  }

  private findFunctionDeclarator(n: Node): Node | null {
    if (n.type === 'function_declarator') return n;
    const inner = n.childForFieldName('declarator');
    return inner ? this.findFunctionDeclarator(inner) : null;
  }

  /** The identifier a (possibly pointer/array/init) declarator declares. */
  private declaredName(n: Node | null): string | null {
    if (!n) return null;
    if (n.type === 'identifier' || n.type === 'field_identifier' || n.type === 'type_identifier') return n.text;
    if (n.type === 'parenthesized_declarator') return this.declaredName(n.namedChild(0));
    return this.declaredName(n.childForFieldName('declarator'));
  }

  /** A declaration's declarators, bound with the declaration's type. */
  private declare(n: Node, scope: Scope): void {
    const hint = this.typeOf(n.childForFieldName('type'), scope);
    for (const d of n.childrenForFieldName('declarator')) {
      const isFunction = this.findFunctionDeclarator(d) !== null;
      const name = this.declaredName(d);
      if (name) bind(scope, name, isFunction ? { kind: 'opaque' } : { kind: 'value', hint });
    }
  }

  /** Registers a struct/union definition (with its fields) and returns the hint naming it. */
  private typeOf(t: Node | null, scope: Scope): TypeHint | null {
    if (!t) return null;
    if (t.type === 'type_identifier') return { name: t.text };
    if (t.type !== 'struct_specifier' && t.type !== 'union_specifier') return null;
    const keyword = t.type === 'struct_specifier' ? 'struct' : 'union';
    const nameNode = t.childForFieldName('name');
    const body = t.childForFieldName('body');
    const tag = `${keyword} ${nameNode ? nameNode.text : `\0anon${this.anon++}`}`;
    if (body) {
      const sym = newTypeSym('struct', tag, this.path, 'c', scope);
      this.fields(body, sym, scope);
      this.types.push(sym);
      const prev = this.tags.get(tag);
      if (prev && [...prev.members].sort().join() !== [...sym.members].sort().join()) this.ambiguous.add(tag);
      this.tags.set(tag, sym);
    }
    return { name: tag };
  }

  private fields(body: Node, sym: TypeSym, scope: Scope): void {
    for (const f of body.namedChildren) {
      if (f.type === 'preproc_if' || f.type === 'preproc_ifdef' || f.type === 'preproc_else' || f.type === 'preproc_elif') {
        // Fields under #if: all variants count (a superset).
        this.fields(f, sym, scope);
        continue;
      }
      if (f.type !== 'field_declaration') continue;
      const typeNode = f.childForFieldName('type');
      const hint = this.typeOf(typeNode, scope);
      const declarators = f.childrenForFieldName('declarator');
      if (declarators.length === 0 && hint) {
        // C11 anonymous struct/union member: its fields are reached directly.
        const inner = this.tags.get(hint.name);
        if (inner) for (const m of inner.members) sym.members.add(m);
        continue;
      }
      for (const d of declarators) {
        const name = this.declaredName(d);
        if (!name) continue;
        sym.members.add(name);
        if (hint) sym.memberTypes.set(name, hint);
      }
    }
  }

  finish(): void {
    for (const t of this.ambiguous) {
      const s = this.tags.get(t);
      if (s) s.dynamic = true;
    }
  }
}

export function analyzeC(path: string, tree: Tree): FileAnalysis {
  const x = new CExtractor(path, tree.rootNode);
  x.visit(tree.rootNode, x.root);
  x.finish();
  return {
    path,
    lang: 'c',
    root: x.root,
    types: x.types,
    exports: null,
    moduleDynamic: true,
    assignedAttrs: new Set(),
    unexplained: [],
    tags: x.tags,
    typedefs: x.typedefs,
  };
}
