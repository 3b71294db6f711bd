// The language-neutral symbol model that the per-language extractors (python.ts, ecmascript.ts,
// c.ts) fill in, and the resolver that answers "which members can follow `receiver.`" from it.
//
// Everything here over-approximates on purpose: a monitor that masks a legal identifier makes
// the completion wrong, one that masks nothing only loses a chance to help. So whenever a fact
// cannot be established (an unresolved base class, a dynamic attribute hook, a star import, a
// receiver bound twice to different things) the answer is null = "unknown, do not constrain".

export type AnalysisLang = 'python' | 'ecmascript' | 'c';

/** A type as written at a binding: `x = Foo()`, `x: mod.Foo`, `new Foo()`, `struct node *p`. Dotted names allowed. */
export interface TypeHint {
  name: string;
}

/** A class, interface, object literal, enum or C struct/union, with the names reachable through `.`. */
export interface TypeSym {
  kind: 'class' | 'interface' | 'object' | 'enum' | 'struct';
  name: string;
  /** Path of the defining file (its FileAnalysis is found through ModuleLookup.file). */
  file: string;
  lang: AnalysisLang;
  /** Names visible on an instance (Python: everything in the class body + `self.x` assignments). */
  members: Set<string>;
  /** Names visible on the class object itself (TS statics; Python: same as members). */
  statics: Set<string>;
  /** Base classes / extended interfaces, as written, resolved in `scope`. */
  bases: string[];
  /** Members may exist that the source does not show (__getattr__, index signatures, spreads, metaclasses). */
  dynamic: boolean;
  /** Types of members where the source says (self.x = Foo(), `f: Foo`, `struct node *next`), for chains. */
  memberTypes: Map<string, TypeHint>;
  /** The scope the definition sits in (bases and member hints resolve there); set by the extractor. */
  scope: Scope | null;
}

export type Binding =
  | { kind: 'type'; sym: TypeSym }
  /** `import m` / `import * as m` (imported null: the module itself) or `from m import x` / `import {x} from 'm'`. */
  | { kind: 'import'; module: string; imported: string | null }
  /** A variable or parameter; hint null when its type is not visible, object set for a literal. */
  | { kind: 'value'; hint: TypeHint | null; object?: TypeSym }
  /** Python `self` / `cls`: the enclosing class, as instance or class object. */
  | { kind: 'self'; sym: TypeSym; classObject: boolean }
  /** Functions, loop variables, anything whose members we do not model. */
  | { kind: 'opaque' };

export interface Scope {
  kind: 'module' | 'function' | 'class' | 'block';
  /** [start, end) in UTF-16 offsets of the node that opens the scope. */
  start: number;
  end: number;
  names: Map<string, Binding[]>;
  children: Scope[];
  parent: Scope | null;
  /** Functions: the class whose method this is (for `this`), and whether it is static. */
  method?: { sym: TypeSym; isStatic: boolean };
  /** ECMAScript arrow functions inherit `this` from the enclosing scope. */
  arrow?: boolean;
  /** Class bodies: the class. */
  sym?: TypeSym;
}

export interface FileAnalysis {
  path: string;
  lang: AnalysisLang;
  root: Scope;
  types: TypeSym[];
  /** Export name → local name in `root` (TS `export { a as b }`: b → a); null when not enumerable (`export *`, `module.exports = f`). */
  exports: Map<string, string> | null;
  /** Python: a star import or module-level __getattr__ makes the module's names unknowable. */
  moduleDynamic: boolean;
  /** Attribute names assigned anywhere as `obj.name = …` (not self/this): such objects may carry them. */
  assignedAttrs: Set<string>;
  /**
   * References no visible binding or builtin explains. Any of them (other than the identifier being
   * typed at the cursor) means our scope model misses something in this file, so namesInScope says "unknown".
   */
  unexplained: { name: string; start: number; end: number }[];
  /** C: struct/union tags and typedef names → the type they name. */
  tags?: Map<string, TypeSym>;
  typedefs?: Map<string, TypeHint>;
}

export function newScope(kind: Scope['kind'], start: number, end: number, parent: Scope | null): Scope {
  const s: Scope = { kind, start, end, names: new Map(), children: [], parent };
  parent?.children.push(s);
  return s;
}

export function bind(scope: Scope, name: string, b: Binding): void {
  const list = scope.names.get(name);
  if (list) list.push(b);
  else scope.names.set(name, [b]);
}

export function newTypeSym(kind: TypeSym['kind'], name: string, file: string, lang: AnalysisLang, scope: Scope | null): TypeSym {
  return { kind, name, file, lang, members: new Set(), statics: new Set(), bases: [], dynamic: false, memberTypes: new Map(), scope };
}

/** The innermost scope whose range holds `offset` (ranges are inclusive at the end: the cursor may sit right after a body). */
export function scopeAt(root: Scope, offset: number): Scope {
  let s = root;
  for (;;) {
    const inner = s.children.find((c) => c.start <= offset && offset <= c.end);
    if (!inner) return s;
    s = inner;
  }
}

/** What a receiver evaluates to, as far as we can tell. */
export type Value =
  | { kind: 'instance'; sym: TypeSym }
  | { kind: 'classObject'; sym: TypeSym }
  | { kind: 'module'; file: FileAnalysis };

/** Where the resolver finds other files: the workspace index. */
export interface ModuleLookup {
  /** The analysed file a module specifier names from `fromPath`, or null when it is not in the workspace. */
  resolveModule(fromPath: string, spec: string, lang: AnalysisLang): FileAnalysis | null;
  /** The analysis of a workspace file by path (where a symbol was defined). */
  file(path: string): FileAnalysis | null;
  /** Python: the submodule names of a package file (`pkg/__init__.py` → ['sub', …]). */
  submodules(file: FileAnalysis): string[];
}

// Names every value of a kind has, beyond what the source defines.
const PY_OBJECT = [
  '__class__', '__delattr__', '__dict__', '__dir__', '__doc__', '__eq__', '__format__', '__ge__', '__getattribute__',
  '__getstate__', '__gt__', '__hash__', '__init__', '__init_subclass__', '__le__', '__lt__', '__module__', '__ne__',
  '__new__', '__reduce__', '__reduce_ex__', '__repr__', '__setattr__', '__sizeof__', '__str__', '__subclasshook__',
  '__weakref__', '__slots__', '__annotations__',
];
const PY_CLASS_OBJECT = ['__name__', '__qualname__', '__bases__', '__base__', '__mro__', 'mro', '__subclasses__', '__call__', '__instancecheck__', '__subclasscheck__', '__type_params__'];
const PY_MODULE = ['__name__', '__file__', '__doc__', '__dict__', '__spec__', '__loader__', '__package__', '__path__', '__all__', '__builtins__', '__cached__', '__annotations__'];
const JS_OBJECT = ['constructor', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString', 'toString', 'valueOf', '__proto__', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__'];
const JS_FUNCTION = ['prototype', 'name', 'length', 'call', 'apply', 'bind', 'toString', 'arguments', 'caller'];

const MAX_DEPTH = 12;

export class Resolver {
  constructor(private readonly modules: ModuleLookup) {}

  /** Legal names after `chain.join('.') + '.'` at `offset`; null = unknown. */
  membersOfChain(file: FileAnalysis, offset: number, chain: string[]): Set<string> | null {
    if (chain.length === 0) return null;
    let v = this.valueOfName(file, scopeAt(file.root, offset), chain[0], 0);
    for (let i = 1; v && i < chain.length; i++) v = this.memberValue(v, chain[i], 0);
    return v ? this.members(v, 0) : null;
  }

  /** The value a name has when looked up from `scope` (Python class scopes are not visible from nested functions). */
  valueOfName(file: FileAnalysis, scope: Scope, name: string, depth: number): Value | null {
    if (depth > MAX_DEPTH) return null;
    if (file.lang === 'ecmascript' && name === 'this') return this.valueOfThis(scope);
    const found = lookup(file, scope, name);
    if (!found) return null;
    let result: Value | null = null;
    // Several bindings in one scope (reassignment): usable only when they all agree.
    for (const b of found.bindings) {
      const v = this.valueOfBinding(file, found.scope, b, depth + 1);
      if (!v) return null;
      if (result && !sameValue(result, v)) return null;
      result = v;
    }
    return result;
  }

  private valueOfThis(scope: Scope): Value | null {
    for (let s: Scope | null = scope; s; s = s.parent) {
      if (s.kind === 'class' && s.sym) return { kind: 'instance', sym: s.sym };
      if (s.kind !== 'function') continue;
      if (s.arrow) continue;
      if (s.method) return s.method.isStatic ? { kind: 'classObject', sym: s.method.sym } : { kind: 'instance', sym: s.method.sym };
      return null;
    }
    return null;
  }

  private valueOfBinding(file: FileAnalysis, scope: Scope, b: Binding, depth: number): Value | null {
    switch (b.kind) {
      case 'type':
        return b.sym.kind === 'object' ? { kind: 'instance', sym: b.sym } : { kind: 'classObject', sym: b.sym };
      case 'self':
        return b.classObject ? { kind: 'classObject', sym: b.sym } : { kind: 'instance', sym: b.sym };
      case 'value':
        if (b.object) return { kind: 'instance', sym: b.object };
        return b.hint ? this.instanceOfHint(file, scope, b.hint, depth) : null;
      case 'import':
        return this.valueOfImport(file, b.module, b.imported, depth);
      case 'opaque':
        return null;
    }
  }

  /** `Foo` / `mod.Foo` / `struct node` as a type annotation or constructor → an instance of it. */
  instanceOfHint(file: FileAnalysis, scope: Scope, hint: TypeHint, depth: number): Value | null {
    if (depth > MAX_DEPTH) return null;
    if (file.lang === 'c') {
      const sym = file.tags?.get(hint.name) ?? this.typedefTarget(file, hint.name, depth);
      return sym ? { kind: 'instance', sym } : null;
    }
    const parts = hint.name.split('.');
    let v = this.valueOfName(file, scope, parts[0], depth + 1);
    for (let i = 1; v && i < parts.length; i++) v = this.memberValue(v, parts[i], depth + 1);
    if (!v || v.kind !== 'classObject') return null;
    // An enum's "instance" is one of its members: nothing we model.
    if (v.sym.kind === 'enum') return null;
    return { kind: 'instance', sym: v.sym };
  }

  private typedefTarget(file: FileAnalysis, name: string, depth: number): TypeSym | null {
    const t = file.typedefs?.get(name);
    if (!t || depth > MAX_DEPTH) return null;
    return file.tags?.get(t.name) ?? this.typedefTarget(file, t.name, depth + 1);
  }

  private valueOfImport(file: FileAnalysis, module: string, imported: string | null, depth: number): Value | null {
    const target = this.modules.resolveModule(file.path, module, file.lang);
    if (imported === null) return target ? { kind: 'module', file: target } : null;
    if (target) {
      const v = this.exportedValue(target, imported, depth + 1);
      if (v) return v;
    }
    // Python `from pkg import sub` may name a submodule rather than a variable.
    if (file.lang === 'python') {
      const sub = this.modules.resolveModule(file.path, module.endsWith('.') ? module + imported : `${module}.${imported}`, file.lang);
      if (sub) return { kind: 'module', file: sub };
    }
    return null;
  }

  private exportedValue(target: FileAnalysis, name: string, depth: number): Value | null {
    let local = name;
    if (target.lang === 'ecmascript') {
      const l = target.exports?.get(name);
      if (l === undefined) return null;
      local = l;
    }
    return this.valueOfName(target, target.root, local, depth + 1);
  }

  /** The value of `v.name`, when the source says what it is. */
  memberValue(v: Value, name: string, depth: number): Value | null {
    if (depth > MAX_DEPTH) return null;
    if (v.kind === 'module') {
      const fromModule = v.file.lang === 'python' ? this.valueOfName(v.file, v.file.root, name, depth + 1) : this.exportedValue(v.file, name, depth + 1);
      if (fromModule) return fromModule;
      if (v.file.lang === 'python' && this.modules.submodules(v.file).includes(name)) {
        const sub = this.modules.resolveModule(v.file.path, `.${name}`, 'python');
        return sub ? { kind: 'module', file: sub } : null;
      }
      return null;
    }
    const hint = this.memberHint(v.sym, name, depth + 1);
    if (!hint) {
      // A class nested in a class body is reachable as a member (Python: Outer.Inner).
      if (v.sym.scope && v.sym.kind === 'class') {
        const inner = v.sym.scope.children.find((c) => c.kind === 'class' && c.sym === v.sym)?.names.get(name);
        const t = inner?.length === 1 ? inner[0] : undefined;
        if (t?.kind === 'type') return { kind: 'classObject', sym: t.sym };
      }
      return null;
    }
    const scope = hint.scope;
    const file = this.modules.file(hint.owner.file);
    return file && scope ? this.instanceOfHint(file, scope, hint.hint, depth + 1) : null;
  }

  /** A member's type hint, searching bases; the scope it must be resolved in comes with it. */
  private memberHint(sym: TypeSym, name: string, depth: number): { hint: TypeHint; scope: Scope | null; owner: TypeSym } | null {
    if (depth > MAX_DEPTH) return null;
    const h = sym.memberTypes.get(name);
    if (h) return { hint: h, scope: sym.scope, owner: sym };
    for (const base of this.baseSyms(sym, depth + 1) ?? []) {
      const r = this.memberHint(base, name, depth + 1);
      if (r) return r;
    }
    return null;
  }

  /** The resolved base types, or null if any base is unknown. */
  private baseSyms(sym: TypeSym, depth: number): TypeSym[] | null {
    if (sym.bases.length === 0) return [];
    if (!sym.scope || depth > MAX_DEPTH) return null;
    const file = this.modules.file(sym.file);
    if (!file) return null;
    const out: TypeSym[] = [];
    for (const base of sym.bases) {
      if (file.lang === 'python' && base === 'object') continue;
      const parts = base.split('.');
      let v = this.valueOfName(file, sym.scope, parts[0], depth + 1);
      for (let i = 1; v && i < parts.length; i++) v = this.memberValue(v, parts[i], depth + 1);
      if (!v || v.kind !== 'classObject' || v.sym === sym) return null;
      out.push(v.sym);
    }
    return out;
  }

  /** Instance-visible names of a type including its bases; null when any part is unknowable. */
  private typeMembers(sym: TypeSym, statics: boolean, depth: number): Set<string> | null {
    if (sym.dynamic || depth > MAX_DEPTH) return null;
    const bases = this.baseSyms(sym, depth + 1);
    if (!bases) return null;
    const out = new Set(statics ? sym.statics : sym.members);
    for (const b of bases) {
      const m = this.typeMembers(b, statics, depth + 1);
      if (!m) return null;
      for (const n of m) out.add(n);
    }
    return out;
  }

  /** Every name that may legally follow `v.`; null = unknown. */
  members(v: Value, depth: number): Set<string> | null {
    if (v.kind === 'module') {
      const f = v.file;
      if (f.lang === 'python') {
        if (f.moduleDynamic) return null;
        const out = new Set<string>([...f.root.names.keys(), ...PY_MODULE, ...this.modules.submodules(f)]);
        return out;
      }
      if (!f.exports) return null;
      return new Set(f.exports.keys());
    }
    const file = this.modules.file(v.sym.file);
    const statics = v.kind === 'classObject';
    const own = this.typeMembers(v.sym, statics, depth + 1);
    if (!own) return null;
    if (file && v.sym.kind !== 'struct') for (const n of file.assignedAttrs) own.add(n);
    const lang = v.sym.lang;
    if (lang === 'python') {
      for (const n of PY_OBJECT) own.add(n);
      if (statics) for (const n of PY_CLASS_OBJECT) own.add(n);
    } else if (lang === 'ecmascript') {
      for (const n of JS_OBJECT) own.add(n);
      if (statics && v.sym.kind === 'class') for (const n of JS_FUNCTION) own.add(n);
    }
    return own;
  }
}

function sameValue(a: Value, b: Value): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'module' && b.kind === 'module') return a.file === b.file;
  return (a as { sym: TypeSym }).sym === (b as { sym: TypeSym }).sym;
}

/** Finds the nearest scope binding `name`, following the language's visibility rules. */
export function lookup(file: FileAnalysis, from: Scope, name: string): { scope: Scope; bindings: Binding[] } | null {
  let s: Scope | null = from;
  let first = true;
  while (s) {
    // Python: a class body's names are not visible from functions nested in it.
    const skip = file.lang === 'python' && s.kind === 'class' && !first;
    if (!skip) {
      const b = s.names.get(name);
      if (b && b.length > 0) return { scope: s, bindings: b };
    }
    if (s.kind === 'function') first = false;
    s = s.parent;
  }
  return null;
}

/** Every name bound in `from` or an enclosing scope (a superset: Python class scopes are included). */
export function namesVisible(from: Scope): Set<string> {
  const out = new Set<string>();
  for (let s: Scope | null = from; s; s = s.parent) for (const n of s.names.keys()) out.add(n);
  return out;
}

/** An identifier read, recorded while walking so it can be checked once every binding is known. */
export interface Ref {
  scope: Scope;
  name: string;
  start: number;
  end: number;
}

/** References that no binding visible from their scope, nor a builtin, explains. */
export function unexplainedRefs(refs: readonly Ref[], builtins: ReadonlySet<string>): { name: string; start: number; end: number }[] {
  const out: { name: string; start: number; end: number }[] = [];
  for (const r of refs) {
    if (builtins.has(r.name)) continue;
    let found = false;
    for (let s: Scope | null = r.scope; s && !found; s = s.parent) found = s.names.has(r.name);
    if (!found) out.push({ name: r.name, start: r.start, end: r.end });
  }
  return out;
}
