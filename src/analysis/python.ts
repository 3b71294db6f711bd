// Python: scopes, bindings and classes from a tree-sitter-python tree.
// Scopes follow Python's rules closely enough for completion: module, class body, function /
// lambda, comprehension. Everything bound anywhere in a scope counts from its start (a function
// may call one defined below it), which over-approximates as the resolver requires.

import type { Node, Tree } from 'web-tree-sitter';
import { bind, newScope, newTypeSym, unexplainedRefs, type Binding, type Ref, type FileAnalysis, type Scope, type TypeHint, type TypeSym } from './symbols';

export const PY_BUILTINS: ReadonlySet<string> = new Set(
  (
    'abs aiter all anext any ascii bin bool breakpoint bytearray bytes callable chr classmethod compile complex ' +
    'copyright credits delattr dict dir divmod enumerate eval exec exit filter float format frozenset getattr globals ' +
    'hasattr hash help hex id input int isinstance issubclass iter len license list locals map max memoryview min next ' +
    'object oct open ord pow print property quit range repr reversed round set setattr slice sorted staticmethod str sum ' +
    'super tuple type vars zip __import__ __name__ __file__ __doc__ __builtins__ __spec__ __loader__ __package__ ' +
    '__debug__ __annotations__ __dict__ __path__ __cached__ __all__ __class__ NotImplemented Ellipsis True False None ' +
    'BaseException BaseExceptionGroup Exception ExceptionGroup ArithmeticError AssertionError AttributeError ' +
    'BlockingIOError BrokenPipeError BufferError BytesWarning ChildProcessError ConnectionAbortedError ConnectionError ' +
    'ConnectionRefusedError ConnectionResetError DeprecationWarning EOFError EncodingWarning EnvironmentError ' +
    'FileExistsError FileNotFoundError FloatingPointError FutureWarning GeneratorExit IOError ImportError ImportWarning ' +
    'IndentationError IndexError InterruptedError IsADirectoryError KeyError KeyboardInterrupt LookupError MemoryError ' +
    'ModuleNotFoundError NameError NotADirectoryError NotImplementedError OSError OverflowError ' +
    'PendingDeprecationWarning PermissionError ProcessLookupError PythonFinalizationError RecursionError ReferenceError ' +
    'ResourceWarning RuntimeError RuntimeWarning StopAsyncIteration StopIteration SyntaxError SyntaxWarning SystemError ' +
    'SystemExit TabError TimeoutError TypeError UnboundLocalError UnicodeDecodeError UnicodeEncodeError UnicodeError ' +
    'UnicodeTranslateError UnicodeWarning UserWarning ValueError Warning ZeroDivisionError WindowsError unicode ' +
    'basestring long xrange raw_input reduce unichr file cmp execfile reload buffer apply intern coerce _ self cls'
  ).split(' '),
);

/** Python keywords: never identifiers, so a name being typed may always become one of these. */
export const PY_KEYWORDS: ReadonlySet<string> = new Set(
  ('False None True and as assert async await break class continue def del elif else except finally for from global if ' +
    'import in is lambda nonlocal not or pass raise return try while with yield match case type print exec').split(' '),
);

/** A simple type name from an annotation or a constructor call: `Foo`, `mod.Foo`, `"Foo"`; null otherwise. */
function simpleTypeName(n: Node | null): string | null {
  if (!n) return null;
  if (n.type === 'type') return simpleTypeName(n.namedChild(0));
  if (n.type === 'identifier') return n.text;
  if (n.type === 'attribute') {
    const obj = simpleTypeName(n.childForFieldName('object'));
    const attr = n.childForFieldName('attribute');
    return obj && attr ? `${obj}.${attr.text}` : null;
  }
  if (n.type === 'string') {
    const m = /^['"]([A-Za-z_][\w.]*)['"]$/.exec(n.text);
    return m ? m[1] : null;
  }
  return null;
}

class PythonExtractor {
  readonly root: Scope;
  readonly types: TypeSym[] = [];
  readonly refs: Ref[] = [];
  readonly assignedAttrs = new Set<string>();
  moduleDynamic = false;

  constructor(
    readonly path: string,
    rootNode: Node,
  ) {
    this.root = newScope('module', rootNode.startIndex, rootNode.endIndex, null);
  }

  visit(n: Node, scope: Scope): void {
    switch (n.type) {
      case 'class_definition':
        return this.classDef(n, scope, []);
      case 'function_definition':
        return this.functionDef(n, scope, []);
      case 'decorated_definition': {
        const decorators = n.namedChildren.filter((c) => c.type === 'decorator').map((d) => d.text.replace(/^@\s*/, ''));
        for (const d of n.namedChildren) if (d.type === 'decorator') this.visitChildren(d, scope);
        const def = n.childForFieldName('definition');
        if (def?.type === 'class_definition') return this.classDef(def, scope, decorators);
        if (def?.type === 'function_definition') return this.functionDef(def, scope, decorators);
        return this.visitChildren(n, scope);
      }
      case 'lambda': {
        const fs = newScope('function', n.startIndex, n.endIndex, scope);
        const params = n.childForFieldName('parameters');
        if (params) this.params(params, fs, scope, null);
        const body = n.childForFieldName('body');
        if (body) this.visit(body, fs);
        return;
      }
      case 'list_comprehension':
      case 'set_comprehension':
      case 'dictionary_comprehension':
      case 'generator_expression': {
        const cs = newScope('block', n.startIndex, n.endIndex, scope);
        // Targets first, so the element expression (written before them) sees them.
        for (const c of n.namedChildren) if (c.type === 'for_in_clause') this.bindPattern(c.childForFieldName('left'), cs, null);
        return this.visitChildren(n, cs);
      }
      case 'for_in_clause': {
        const left = n.childForFieldName('left');
        for (const c of n.namedChildren) if (!left || !c.equals(left)) this.visit(c, scope);
        return;
      }
      case 'assignment':
        return this.assignment(n, scope);
      case 'augmented_assignment': {
        const left = n.childForFieldName('left');
        if (left?.type === 'attribute') this.attributeTarget(left, scope, null);
        this.visitChildren(n, scope);
        return;
      }
      case 'for_statement':
        this.bindPattern(n.childForFieldName('left'), scope, null);
        return this.visitChildrenExcept(n, scope, 'left');
      case 'as_pattern': {
        const alias = n.childForFieldName('alias');
        if (alias) this.bindPattern(alias.namedChild(0) ?? alias, scope, null);
        for (const c of n.namedChildren) if (c.type !== 'as_pattern_target') this.visit(c, scope);
        return;
      }
      case 'named_expression': {
        const name = n.childForFieldName('name');
        if (name) bind(scope, name.text, { kind: 'value', hint: null });
        const value = n.childForFieldName('value');
        if (value) this.visit(value, scope);
        return;
      }
      case 'global_statement':
        for (const c of n.namedChildren) if (c.type === 'identifier') bind(this.root, c.text, { kind: 'opaque' });
        return;
      case 'nonlocal_statement':
        return;
      case 'import_statement':
        return this.importStatement(n, scope);
      case 'import_from_statement':
        return this.importFrom(n, scope);
      case 'case_pattern':
        // Capture patterns bind; keyword names inside class patterns do not, but binding a few extra names is harmless.
        for (const id of n.descendantsOfType('identifier')) bind(scope, id.text, { kind: 'opaque' });
        return;
      case 'keyword_argument': {
        const value = n.childForFieldName('value');
        if (value) this.visit(value, scope);
        return;
      }
      case 'attribute': {
        const obj = n.childForFieldName('object');
        if (obj) this.visit(obj, scope);
        return;
      }
      case 'identifier':
        this.refs.push({ scope, name: n.text, start: n.startIndex, end: n.endIndex });
        return;
      default:
        return this.visitChildren(n, scope);
    }
  }

  private visitChildren(n: Node, scope: Scope): void {
    for (const c of n.namedChildren) this.visit(c, scope);
  }

  private visitChildrenExcept(n: Node, scope: Scope, field: string): void {
    const skip = n.childForFieldName(field);
    for (const c of n.namedChildren) if (!skip || !c.equals(skip)) this.visit(c, scope);
  }

  private classDef(n: Node, scope: Scope, decorators: string[]): void {
    const nameNode = n.childForFieldName('name');
    const name = nameNode?.text ?? '';
    const sym = newTypeSym('class', name, this.path, 'python', scope);
    this.types.push(sym);
    if (name) bind(scope, name, { kind: 'type', sym });
    const supers = n.childForFieldName('superclasses');
    for (const a of supers?.namedChildren ?? []) {
      if (a.type === 'keyword_argument') {
        // metaclass=… can add anything; other class keywords (total=False) are harmless.
        if (a.childForFieldName('name')?.text === 'metaclass') sym.dynamic = true;
        this.visit(a, scope);
        continue;
      }
      this.visit(a, scope);
      sym.bases.push(simpleTypeName(a) ?? '<expr>');
    }
    // Decorators other than the well-known ones may return anything in place of the class.
    if (decorators.some((d) => !/^(dataclasses\.)?dataclass\b|^(typing\.)?(final|runtime_checkable)\b|^total_ordering\b/.test(d))) sym.dynamic = true;
    const cs = newScope('class', n.startIndex, n.endIndex, scope);
    cs.sym = sym;
    const body = n.childForFieldName('body');
    if (body) this.visit(body, cs);
    for (const [k, bs] of cs.names) {
      sym.members.add(k);
      for (const b of bs) if (b.kind === 'value' && b.hint) this.memberType(sym, k, b.hint);
    }
    if (sym.members.has('__getattr__') || sym.members.has('__getattribute__')) sym.dynamic = true;
    for (const m of sym.members) sym.statics.add(m);
  }

  private readonly conflicted = new WeakMap<TypeSym, Set<string>>();

  /** Records a member's type; two different types for one member cancel out. */
  private memberType(sym: TypeSym, member: string, hint: TypeHint): void {
    const bad = this.conflicted.get(sym) ?? new Set<string>();
    this.conflicted.set(sym, bad);
    if (bad.has(member)) return;
    const prev = sym.memberTypes.get(member);
    if (prev && prev.name !== hint.name) {
      sym.memberTypes.delete(member);
      bad.add(member);
      return;
    }
    sym.memberTypes.set(member, hint);
  }

  private functionDef(n: Node, scope: Scope, decorators: string[]): void {
    const name = n.childForFieldName('name')?.text;
    if (name) bind(scope, name, { kind: 'opaque' });
    const fs = newScope('function', n.startIndex, n.endIndex, scope);
    const cls = scope.kind === 'class' ? scope.sym : undefined;
    if (cls) fs.method = { sym: cls, isStatic: decorators.includes('staticmethod') };
    const selfMode: 'self' | 'cls' | null = !cls || decorators.includes('staticmethod') ? null : decorators.includes('classmethod') || name === '__new__' || name === '__init_subclass__' || name === '__class_getitem__' ? 'cls' : 'self';
    const params = n.childForFieldName('parameters');
    if (params) this.params(params, fs, scope, cls && selfMode ? { sym: cls, classObject: selfMode === 'cls' } : null);
    const rt = n.childForFieldName('return_type');
    if (rt) this.visit(rt, scope);
    const body = n.childForFieldName('body');
    if (body) this.visit(body, fs);
  }

  private params(params: Node, fs: Scope, outer: Scope, self: { sym: TypeSym; classObject: boolean } | null): void {
    let first = true;
    for (const p of params.namedChildren) {
      let nameNode: Node | null = null;
      let hint: TypeHint | null = null;
      switch (p.type) {
        case 'identifier':
          nameNode = p;
          break;
        case 'typed_parameter': {
          nameNode = p.namedChildren.find((c) => c.type === 'identifier') ?? null;
          const t = simpleTypeName(p.childForFieldName('type'));
          hint = t ? { name: t } : null;
          break;
        }
        case 'default_parameter':
        case 'typed_default_parameter': {
          nameNode = p.childForFieldName('name');
          const t = simpleTypeName(p.childForFieldName('type'));
          hint = t ? { name: t } : null;
          break;
        }
        case 'list_splat_pattern':
        case 'dictionary_splat_pattern':
          nameNode = p.namedChildren.find((c) => c.type === 'identifier') ?? null;
          break;
        default:
          break;
      }
      // Defaults and annotations are evaluated in the enclosing scope.
      for (const field of ['value', 'type']) {
        const f = p.childForFieldName(field);
        if (f) this.visit(f, outer);
      }
      if (!nameNode) continue;
      const b: Binding = first && self ? { kind: 'self', sym: self.sym, classObject: self.classObject } : { kind: 'value', hint };
      bind(fs, nameNode.text, b);
      first = false;
    }
  }

  private assignment(n: Node, scope: Scope): void {
    const left = n.childForFieldName('left');
    const right = n.childForFieldName('right');
    const typeNode = n.childForFieldName('type');
    const annotated = simpleTypeName(typeNode);
    let hint: TypeHint | null = annotated ? { name: annotated } : null;
    if (!hint && right?.type === 'call') {
      const fn = simpleTypeName(right.childForFieldName('function'));
      if (fn) hint = { name: fn };
    }
    if (left?.type === 'identifier') bind(scope, left.text, { kind: 'value', hint });
    else if (left?.type === 'attribute') this.attributeTarget(left, scope, hint);
    else this.bindPattern(left, scope, null);
    if (typeNode) this.visit(typeNode, scope);
    if (right) this.visit(right, scope);
    if (left && left.type !== 'identifier') this.visitTargetsReads(left, scope);
  }

  /** `obj.attr = …`: `self.attr` defines a member of the enclosing class; anything else may add attributes to any object. */
  private attributeTarget(left: Node, scope: Scope, hint: TypeHint | null): void {
    const obj = left.childForFieldName('object');
    const attr = left.childForFieldName('attribute')?.text;
    if (!obj || !attr) return;
    if (obj.type === 'identifier') {
      const self = this.selfBinding(scope, obj.text);
      if (self) {
        self.members.add(attr);
        self.statics.add(attr);
        if (hint) this.memberType(self, attr, hint);
        return;
      }
    }
    this.assignedAttrs.add(attr);
  }

  /** The class whose `self` this name is, in the innermost function scope. */
  private selfBinding(scope: Scope, name: string): TypeSym | null {
    for (let s: Scope | null = scope; s; s = s.parent) {
      if (s.kind !== 'function') continue;
      const b = s.names.get(name);
      if (b?.length === 1 && b[0].kind === 'self') return b[0].sym;
      return null;
    }
    return null;
  }

  /** Reads inside assignment targets (`a[i] = …` reads a and i; `a.b = …` reads a). */
  private visitTargetsReads(left: Node, scope: Scope): void {
    if (left.type === 'attribute') {
      const obj = left.childForFieldName('object');
      if (obj) this.visit(obj, scope);
    } else if (left.type === 'subscript') {
      this.visitChildren(left, scope);
    } else {
      for (const c of left.namedChildren) this.visitTargetsReads(c, scope);
    }
  }

  private bindPattern(n: Node | null, scope: Scope, hint: TypeHint | null): void {
    if (!n) return;
    switch (n.type) {
      case 'identifier':
        bind(scope, n.text, { kind: 'value', hint });
        return;
      case 'attribute':
        this.attributeTarget(n, scope, null);
        return;
      case 'subscript':
        return;
      default:
        for (const c of n.namedChildren) this.bindPattern(c, scope, null);
    }
  }

  private importStatement(n: Node, scope: Scope): void {
    for (const c of n.childrenForFieldName('name')) {
      if (c.type === 'dotted_name') {
        // `import a.b.c` binds `a`, the top package.
        const top = c.namedChild(0)?.text;
        if (top) bind(scope, top, { kind: 'import', module: top, imported: null });
      } else if (c.type === 'aliased_import') {
        const mod = c.childForFieldName('name')?.text;
        const alias = c.childForFieldName('alias')?.text;
        if (mod && alias) bind(scope, alias, { kind: 'import', module: mod, imported: null });
      }
    }
  }

  private importFrom(n: Node, scope: Scope): void {
    const module = n.childForFieldName('module_name')?.text.replace(/\s+/g, '') ?? '';
    if (n.namedChildren.some((c) => c.type === 'wildcard_import')) {
      this.moduleDynamic = true;
      return;
    }
    for (const c of n.childrenForFieldName('name')) {
      if (c.type === 'dotted_name') bind(scope, c.text, { kind: 'import', module, imported: c.text });
      else if (c.type === 'aliased_import') {
        const name = c.childForFieldName('name')?.text;
        const alias = c.childForFieldName('alias')?.text;
        if (name && alias) bind(scope, alias, { kind: 'import', module, imported: name });
      }
    }
  }
}

export function analyzePython(path: string, tree: Tree): FileAnalysis {
  const x = new PythonExtractor(path, tree.rootNode);
  x.visit(tree.rootNode, x.root);
  if (x.root.names.has('__getattr__')) x.moduleDynamic = true;
  return {
    path,
    lang: 'python',
    root: x.root,
    types: x.types,
    exports: null,
    moduleDynamic: x.moduleDynamic,
    assignedAttrs: x.assignedAttrs,
    unexplained: unexplainedRefs(x.refs, PY_BUILTINS),
  };
}
