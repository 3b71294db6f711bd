// TypeScript / TSX / JavaScript: scopes, bindings, classes, interfaces, object literals, enums
// and module exports from a tree-sitter tree. Block scoping is folded into the enclosing
// function (a superset of what is visible), which is all the monitors need.

import type { Node, Tree } from 'web-tree-sitter';
import { bind, newScope, newTypeSym, unexplainedRefs, type FileAnalysis, type Ref, type Scope, type TypeHint, type TypeSym } from './symbols';

/** Names that exist without a declaration: ECMAScript, Node, browsers, common test runners. */
export const JS_GLOBALS: ReadonlySet<string> = new Set([
  ...Object.getOwnPropertyNames(globalThis),
  ...(
    'undefined NaN Infinity globalThis arguments require module exports __dirname __filename process Buffer global ' +
    'setTimeout clearTimeout setInterval clearInterval setImmediate clearImmediate queueMicrotask structuredClone ' +
    'console fetch Request Response Headers URL URLSearchParams TextEncoder TextDecoder AbortController AbortSignal ' +
    'Blob File FormData WebSocket Worker crypto performance atob btoa window document navigator location history ' +
    'localStorage sessionStorage alert confirm prompt XMLHttpRequest Element HTMLElement HTMLInputElement ' +
    'HTMLCanvasElement HTMLDivElement SVGElement Node NodeList Event CustomEvent MouseEvent KeyboardEvent ' +
    'PointerEvent TouchEvent FocusEvent InputEvent EventTarget DOMParser MutationObserver ResizeObserver ' +
    'IntersectionObserver requestAnimationFrame cancelAnimationFrame getComputedStyle matchMedia screen self ' +
    'indexedDB caches Image Audio Notification describe it test expect beforeEach afterEach beforeAll afterAll ' +
    'jest vi suite setup teardown suiteSetup suiteTeardown context chrome Deno Bun'
  ).split(' '),
]);

export const JS_KEYWORDS: ReadonlySet<string> = new Set(
  ('break case catch class const continue debugger default delete do else enum export extends false finally for function ' +
    'if import in instanceof new null return super switch this throw true try typeof var void while with yield let static ' +
    'implements interface package private protected public await async of as from get set type declare namespace ' +
    'abstract readonly keyof infer is satisfies override accessor unique asserts module any unknown never object ' +
    'string number boolean symbol bigint').split(' '),
);

const FUNCTION_TYPES = new Set(['function_declaration', 'generator_function_declaration', 'function_expression', 'function', 'generator_function', 'arrow_function', 'method_definition']);
const CLASS_TYPES = new Set(['class_declaration', 'abstract_class_declaration', 'class']);

/** A type name usable as a hint: `Foo`, `Foo<T>`, `ns.Foo`; null for unions, arrays, literals. */
function typeName(n: Node | null): string | null {
  if (!n) return null;
  switch (n.type) {
    case 'type_annotation':
      return typeName(n.namedChild(0));
    case 'type_identifier':
    case 'identifier':
      return n.text;
    case 'generic_type':
      return typeName(n.childForFieldName('name') ?? n.namedChild(0));
    case 'nested_type_identifier':
    case 'member_expression':
      return /^[\w$]+(\.[\w$]+)*$/.test(n.text) ? n.text : null;
    default:
      return null;
  }
}

/** The name a member definition introduces, or null for computed / symbol keys. */
function memberName(n: Node | null): string | null {
  if (!n) return null;
  switch (n.type) {
    case 'property_identifier':
    case 'private_property_identifier':
    case 'identifier':
    case 'type_identifier':
      return n.text;
    case 'string': {
      const m = /^['"]([A-Za-z_$][\w$]*)['"]$/.exec(n.text);
      return m ? m[1] : null;
    }
    default:
      return null;
  }
}

function hasChild(n: Node, type: string): boolean {
  for (let i = 0; i < n.childCount; i++) if (n.child(i)?.type === type) return true;
  return false;
}

class EcmaExtractor {
  readonly root: Scope;
  readonly types: TypeSym[] = [];
  readonly refs: Ref[] = [];
  readonly assignedAttrs = new Set<string>();
  exports: Map<string, string> | null = new Map();
  private readonly reassigned: { scope: Scope; name: string }[] = [];
  private hidden = 0;

  constructor(
    readonly path: string,
    rootNode: Node,
  ) {
    this.root = newScope('module', rootNode.startIndex, rootNode.endIndex, null);
  }

  finish(): void {
    // `x = …` after `const x = new Foo()`-style declarations: the type is no longer certain.
    for (const r of this.reassigned) {
      for (let s: Scope | null = r.scope; s; s = s.parent) {
        const b = s.names.get(r.name);
        if (b) {
          b.push({ kind: 'opaque' });
          break;
        }
      }
    }
  }

  visit(n: Node, scope: Scope): void {
    const t = n.type;
    if (CLASS_TYPES.has(t)) return void this.classDecl(n, scope);
    if (FUNCTION_TYPES.has(t)) return this.functionLike(n, scope, null);
    switch (t) {
      case 'import_statement':
        return this.importStatement(n, scope);
      case 'export_statement':
        return this.exportStatement(n, scope);
      case 'interface_declaration':
        return this.interfaceDecl(n, scope);
      case 'type_alias_declaration': {
        const name = n.childForFieldName('name')?.text;
        const value = n.childForFieldName('value');
        if (name && value?.type === 'object_type') {
          const sym = newTypeSym('interface', name, this.path, 'ecmascript', scope);
          this.typeMembers(value, sym);
          this.types.push(sym);
          bind(scope, name, { kind: 'type', sym });
        } else if (name) bind(scope, name, { kind: 'opaque' });
        return;
      }
      case 'enum_declaration':
        return this.enumDecl(n, scope);
      case 'variable_declarator':
        return this.declarator(n, scope);
      case 'internal_module':
      case 'module': {
        const name = n.childForFieldName('name');
        if (name?.type === 'identifier') bind(scope, name.text, { kind: 'opaque' });
        const body = n.childForFieldName('body');
        if (body) this.visitChildren(body, scope);
        return;
      }
      case 'catch_clause': {
        this.bindPattern(n.childForFieldName('parameter'), scope);
        const body = n.childForFieldName('body');
        if (body) this.visit(body, scope);
        return;
      }
      case 'for_in_statement': {
        this.bindPattern(n.childForFieldName('left'), scope);
        for (const c of n.namedChildren) if (c.type !== 'identifier' || !c.equals(n.childForFieldName('left') ?? c)) this.visit(c, scope);
        return;
      }
      case 'assignment_expression':
      case 'augmented_assignment_expression': {
        const left = n.childForFieldName('left');
        if (left?.type === 'identifier') this.reassigned.push({ scope, name: left.text });
        if (left?.type === 'member_expression') {
          const prop = left.childForFieldName('property');
          const obj = left.childForFieldName('object');
          if (prop && obj?.type === 'this') this.thisAssignment(scope, prop.text, n.childForFieldName('right'));
          else if (prop) this.assignedAttrs.add(prop.text);
          if (obj?.type === 'identifier' && (obj.text === 'module' || obj.text === 'exports')) this.exports = null;
        }
        this.visitChildren(n, scope);
        return;
      }
      case 'member_expression': {
        const obj = n.childForFieldName('object');
        if (obj) this.visit(obj, scope);
        return;
      }
      case 'pair': {
        const value = n.childForFieldName('value');
        const key = n.childForFieldName('key');
        if (key?.type === 'computed_property_name') this.visit(key, scope);
        if (value) this.visit(value, scope);
        return;
      }
      case 'shorthand_property_identifier':
      case 'identifier':
        if (n.parent && /^jsx_(opening|closing|self_closing)_element$/.test(n.parent.type)) return;
        this.refs.push({ scope, name: n.text, start: n.startIndex, end: n.endIndex });
        return;
      case 'type_annotation':
      case 'type_arguments':
      case 'type_parameters':
        return;
      default:
        return this.visitChildren(n, scope);
    }
  }

  private visitChildren(n: Node, scope: Scope): void {
    for (const c of n.namedChildren) this.visit(c, scope);
  }

  private classDecl(n: Node, scope: Scope): TypeSym {
    const nameNode = n.childForFieldName('name');
    const sym = newTypeSym('class', nameNode?.text ?? '', this.path, 'ecmascript', scope);
    this.types.push(sym);
    if (nameNode && n.type !== 'class') bind(scope, nameNode.text, { kind: 'type', sym });
    for (const h of n.namedChildren.filter((c) => c.type === 'class_heritage')) {
      for (const clause of h.namedChildren) {
        if (clause.type === 'extends_clause') {
          const v = clause.childForFieldName('value') ?? clause.namedChild(0);
          if (v) {
            this.visit(v, scope);
            sym.bases.push(typeName(v) ?? '<expr>');
          }
        } else if (clause.type !== 'implements_clause') {
          // Plain JS grammar: class_heritage holds the expression directly.
          this.visit(clause, scope);
          sym.bases.push(typeName(clause) ?? '<expr>');
        }
      }
    }
    const cs = newScope('class', n.startIndex, n.endIndex, scope);
    cs.sym = sym;
    const body = n.childForFieldName('body');
    for (const m of body?.namedChildren ?? []) this.classMember(m, sym, cs);
    return sym;
  }

  private classMember(m: Node, sym: TypeSym, cs: Scope): void {
    const isStatic = hasChild(m, 'static');
    const target = isStatic ? sym.statics : sym.members;
    switch (m.type) {
      case 'method_definition':
      case 'method_signature':
      case 'abstract_method_signature': {
        const name = memberName(m.childForFieldName('name'));
        if (name && name !== 'constructor') target.add(name);
        if (m.type === 'method_definition') this.functionLike(m, cs, { sym, isStatic });
        return;
      }
      case 'public_field_definition':
      case 'field_definition': {
        const nameNode = m.childForFieldName('name') ?? m.childForFieldName('property');
        const name = memberName(nameNode);
        if (nameNode?.type === 'computed_property_name') return;
        if (!name) return;
        target.add(name);
        const hint = this.hintOf(m.childForFieldName('type'), m.childForFieldName('value'));
        if (hint && !isStatic) sym.memberTypes.set(name, hint);
        const value = m.childForFieldName('value');
        if (value) this.visit(value, cs);
        return;
      }
      case 'index_signature':
        sym.dynamic = true;
        return;
      default:
        this.visit(m, cs);
    }
  }

  /** `this.x = …` in a method: a member of the class (or a static in a static method). */
  private thisAssignment(scope: Scope, name: string, right: Node | null): void {
    for (let s: Scope | null = scope; s; s = s.parent) {
      if (s.kind === 'function' && s.arrow) continue;
      if (s.kind === 'class' && s.sym) {
        s.sym.members.add(name);
        return;
      }
      if (s.kind !== 'function') continue;
      if (!s.method) return;
      (s.method.isStatic ? s.method.sym.statics : s.method.sym.members).add(name);
      const hint = this.hintOf(null, right);
      if (hint && !s.method.isStatic && !s.method.sym.memberTypes.has(name)) s.method.sym.memberTypes.set(name, hint);
      return;
    }
  }

  private hintOf(typeNode: Node | null, value: Node | null): TypeHint | null {
    const t = typeName(typeNode);
    if (t) return { name: t };
    if (value?.type === 'new_expression') {
      const c = typeName(value.childForFieldName('constructor'));
      if (c) return { name: c };
    }
    return null;
  }

  private functionLike(n: Node, scope: Scope, method: { sym: TypeSym; isStatic: boolean } | null): void {
    const nameNode = n.childForFieldName('name');
    if (nameNode && n.type !== 'method_definition' && n.type !== 'function_expression' && n.type !== 'function') bind(scope, nameNode.text, { kind: 'opaque' });
    const fs = newScope('function', n.startIndex, n.endIndex, scope);
    if (method) fs.method = method;
    if (n.type === 'arrow_function') fs.arrow = true;
    // A named function expression sees its own name.
    if (nameNode && (n.type === 'function_expression' || n.type === 'function')) bind(fs, nameNode.text, { kind: 'opaque' });
    const params = n.childForFieldName('parameters') ?? n.childForFieldName('parameter');
    if (params) {
      if (params.type === 'identifier') bind(fs, params.text, { kind: 'value', hint: null });
      else
        for (const p of params.namedChildren) {
          const isProperty = hasChild(p, 'accessibility_modifier') || hasChild(p, 'readonly') || hasChild(p, 'override');
          const pattern = p.childForFieldName('pattern') ?? (p.type === 'identifier' ? p : null);
          const hint = this.hintOf(p.childForFieldName('type'), null);
          if (pattern?.type === 'identifier') {
            bind(fs, pattern.text, { kind: 'value', hint });
            // `constructor(private readonly dep: Dep)` declares a member too.
            if (isProperty && method) {
              method.sym.members.add(pattern.text);
              if (hint) method.sym.memberTypes.set(pattern.text, hint);
            }
          } else if (pattern && pattern.type !== 'this') this.bindPattern(pattern, fs);
          else if (!pattern) this.bindPattern(p, fs);
          const value = p.childForFieldName('value');
          if (value) this.visit(value, fs);
        }
    }
    const body = n.childForFieldName('body');
    if (body) this.visit(body, fs);
  }

  private bindPattern(n: Node | null, scope: Scope): void {
    if (!n) return;
    switch (n.type) {
      case 'identifier':
      case 'shorthand_property_identifier_pattern':
        bind(scope, n.text, { kind: 'value', hint: null });
        return;
      case 'assignment_pattern': {
        this.bindPattern(n.childForFieldName('left'), scope);
        const right = n.childForFieldName('right');
        if (right) this.visit(right, scope);
        return;
      }
      case 'pair_pattern':
        this.bindPattern(n.childForFieldName('value'), scope);
        return;
      case 'member_expression':
      case 'subscript_expression':
        this.visit(n, scope);
        return;
      default:
        for (const c of n.namedChildren) this.bindPattern(c, scope);
    }
  }

  private declarator(n: Node, scope: Scope): void {
    const nameNode = n.childForFieldName('name');
    const value = n.childForFieldName('value');
    if (nameNode?.type === 'identifier') {
      const typeNode = n.childForFieldName('type');
      if (!typeName(typeNode) && value?.type === 'object') {
        const sym = newTypeSym('object', nameNode.text, this.path, 'ecmascript', scope);
        this.objectMembers(value, sym);
        this.types.push(sym);
        bind(scope, nameNode.text, { kind: 'value', hint: null, object: sym });
      } else if (value && CLASS_TYPES.has(value.type)) {
        const sym = this.classDecl(value, scope);
        bind(scope, nameNode.text, { kind: 'type', sym });
        return;
      } else {
        bind(scope, nameNode.text, { kind: 'value', hint: this.hintOf(typeNode, value) });
      }
    } else this.bindPattern(nameNode, scope);
    if (value) this.visit(value, scope);
  }

  private objectMembers(obj: Node, sym: TypeSym): void {
    for (const c of obj.namedChildren) {
      switch (c.type) {
        case 'pair': {
          const key = c.childForFieldName('key');
          const name = memberName(key);
          if (name) sym.members.add(name);
          else if (key?.type !== 'number') sym.dynamic = true;
          const v = c.childForFieldName('value');
          const hint = this.hintOf(null, v);
          if (name && hint) sym.memberTypes.set(name, hint);
          break;
        }
        case 'method_definition': {
          const name = memberName(c.childForFieldName('name'));
          if (name) sym.members.add(name);
          else sym.dynamic = true;
          break;
        }
        case 'shorthand_property_identifier':
          sym.members.add(c.text);
          break;
        case 'comment':
          break;
        default:
          // Spreads and anything unforeseen: the key set is not known.
          sym.dynamic = true;
      }
    }
    for (const m of sym.members) sym.statics.add(m);
  }

  private typeMembers(body: Node, sym: TypeSym): void {
    for (const c of body.namedChildren) {
      if (c.type === 'property_signature' || c.type === 'method_signature') {
        const name = memberName(c.childForFieldName('name'));
        if (name) {
          sym.members.add(name);
          const hint = this.hintOf(c.childForFieldName('type'), null);
          if (hint && c.type === 'property_signature') sym.memberTypes.set(name, hint);
        } else sym.dynamic = true;
      } else if (c.type === 'index_signature') sym.dynamic = true;
    }
  }

  private interfaceDecl(n: Node, scope: Scope): void {
    const name = n.childForFieldName('name')?.text;
    if (!name) return;
    const sym = newTypeSym('interface', name, this.path, 'ecmascript', scope);
    for (const c of n.namedChildren) {
      if (c.type === 'extends_type_clause') for (const t of c.namedChildren) sym.bases.push(typeName(t) ?? '<expr>');
    }
    const body = n.childForFieldName('body');
    if (body) this.typeMembers(body, sym);
    this.types.push(sym);
    bind(scope, name, { kind: 'type', sym });
  }

  private enumDecl(n: Node, scope: Scope): void {
    const name = n.childForFieldName('name')?.text;
    if (!name) return;
    const sym = newTypeSym('enum', name, this.path, 'ecmascript', scope);
    for (const c of n.childForFieldName('body')?.namedChildren ?? []) {
      const m = memberName(c.type === 'enum_assignment' ? c.childForFieldName('name') : c);
      if (m) sym.statics.add(m);
    }
    this.types.push(sym);
    bind(scope, name, { kind: 'type', sym });
  }

  private sourceOf(n: Node): string | null {
    const s = n.childForFieldName('source');
    return s ? s.text.slice(1, -1) : null;
  }

  private importStatement(n: Node, scope: Scope): void {
    const module = this.sourceOf(n);
    if (module === null) return;
    for (const clause of n.namedChildren) {
      if (clause.type !== 'import_clause') continue;
      for (const c of clause.namedChildren) {
        if (c.type === 'identifier') bind(scope, c.text, { kind: 'import', module, imported: 'default' });
        else if (c.type === 'namespace_import') {
          const id = c.namedChildren.find((x) => x.type === 'identifier');
          if (id) bind(scope, id.text, { kind: 'import', module, imported: null });
        } else if (c.type === 'named_imports') {
          for (const s of c.namedChildren) {
            if (s.type !== 'import_specifier') continue;
            const name = s.childForFieldName('name');
            const alias = s.childForFieldName('alias');
            if (name) bind(scope, (alias ?? name).text, { kind: 'import', module, imported: memberName(name) ?? name.text });
          }
        }
      }
    }
    // `import x = require('y')`
    for (const c of n.namedChildren) {
      if (c.type === 'import_require_clause') {
        const id = c.namedChildren.find((x) => x.type === 'identifier');
        if (id) bind(scope, id.text, { kind: 'import', module, imported: null });
      }
    }
  }

  private exportStatement(n: Node, scope: Scope): void {
    const source = this.sourceOf(n);
    const decl = n.childForFieldName('declaration');
    const value = n.childForFieldName('value');
    const isDefault = hasChild(n, 'default');
    const exports = this.exports;
    if (decl) {
      this.visit(decl, scope);
      const names: string[] = [];
      const nameNode = decl.childForFieldName('name');
      if (nameNode) names.push(nameNode.text);
      for (const d of decl.namedChildren) if (d.type === 'variable_declarator') {
        const dn = d.childForFieldName('name');
        if (dn?.type === 'identifier') names.push(dn.text);
        else if (exports) for (const id of dn?.descendantsOfType(['identifier', 'shorthand_property_identifier_pattern']) ?? []) exports.set(id.text, id.text);
      }
      for (const nm of names) exports?.set(isDefault ? 'default' : nm, nm);
      if (isDefault && !nameNode) exports?.set('default', '\0default');
      return;
    }
    if (value) {
      this.visit(value, scope);
      const local = value.type === 'identifier' ? value.text : `\0default`;
      exports?.set('default', local);
      return;
    }
    const clause = n.namedChildren.find((c) => c.type === 'export_clause');
    if (clause) {
      for (const s of clause.namedChildren) {
        if (s.type !== 'export_specifier') continue;
        const name = s.childForFieldName('name');
        const alias = s.childForFieldName('alias');
        if (!name) continue;
        const exported = memberName(alias ?? name) ?? (alias ?? name).text;
        if (source !== null) {
          // Re-export: a hidden binding that imports the name, so resolution can follow it.
          const hidden = `\0re${this.hidden++}`;
          bind(this.root, hidden, { kind: 'import', module: source, imported: memberName(name) ?? name.text });
          exports?.set(exported, hidden);
        } else {
          exports?.set(exported, name.text);
          this.visit(name, scope);
        }
      }
      return;
    }
    const ns = n.namedChildren.find((c) => c.type === 'namespace_export');
    if (ns && source !== null) {
      const id = ns.namedChildren.find((c) => c.type === 'identifier' || c.type === 'string');
      const hidden = `\0re${this.hidden++}`;
      bind(this.root, hidden, { kind: 'import', module: source, imported: null });
      if (id) exports?.set(memberName(id) ?? id.text, hidden);
      return;
    }
    // `export * from 'x'` or `export = …`: names we cannot list without following more files.
    this.exports = null;
    this.visitChildren(n, scope);
  }
}

export function analyzeEcmascript(path: string, tree: Tree): FileAnalysis {
  const x = new EcmaExtractor(path, tree.rootNode);
  x.visit(tree.rootNode, x.root);
  x.finish();
  return {
    path,
    lang: 'ecmascript',
    root: x.root,
    types: x.types,
    exports: x.exports,
    moduleDynamic: false,
    assignedAttrs: x.assignedAttrs,
    unexplained: unexplainedRefs(x.refs, JS_GLOBALS),
  };
}
