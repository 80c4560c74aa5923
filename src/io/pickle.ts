/**
 * A small, safe Python pickle reader (protocols 0-5) for PyTorch checkpoints.
 *
 * Python's pickle is a stack machine whose GLOBAL/REDUCE opcodes import and call arbitrary functions — loading
 * an untrusted .pt with `pickle` can run any code. This VM never imports or calls anything from the file: a
 * GLOBAL is looked up in a caller-supplied allow-list of small pure JS functions (rebuild a tensor, make an
 * OrderedDict, ...). Anything else becomes an inert `PyGlobal` placeholder, and calling or instantiating a
 * placeholder (REDUCE, NEWOBJ, INST, OBJ) just records a `PyObject` with the class and arguments. So optimizer
 * state, config objects, numpy scalars or a malicious `os.system` payload are carried along as data and never run.
 *
 * Python values map to: None -> null, bool -> boolean, int -> number (bigint beyond 2^53), float -> number,
 * str -> string, bytes/bytearray -> Uint8Array, tuple and list -> Array, dict -> Map, set -> Set.
 */

/** An unresolved `module.name` reference. Never resolved to code. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An instance of a class that is not on the allow-list: the constructor arguments and state, as data. */
export class PyObject {
  /** BUILD state (usually the instance __dict__ as a Map, or a tuple for __setstate__). */
  state: unknown = undefined;
  /** Items appended (list subclasses) and set (dict subclasses) on the object. */
  readonly listItems: unknown[] = [];
  readonly dictItems = new Map<unknown, unknown>();
  constructor(
    readonly cls: unknown,
    readonly args: unknown[],
    readonly kwargs?: unknown,
  ) {}
  /** The class's qualified name, e.g. `__torch__.model.CLIP`, or '?' if unknown. */
  get className(): string {
    return this.cls instanceof PyGlobal ? this.cls.qualname : this.cls instanceof PyFunction ? this.cls.qualname : '?';
  }
}

/** An allow-listed global: a pure JS function standing in for the Python callable. */
export class PyFunction {
  constructor(
    readonly qualname: string,
    readonly call: (args: unknown[]) => unknown,
  ) {}
}

export interface UnpickleOptions {
  /** Resolve `module.name` to an allowed PyFunction (or a constant); undefined -> inert PyGlobal placeholder. */
  findGlobal?: (module: string, name: string) => unknown;
  /** PERSID / BINPERSID: PyTorch uses it for tensor storages. Without it, persistent ids are an error. */
  persistentLoad?: (pid: unknown) => unknown;
}

export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PickleError';
  }
}

function toInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** A decimal integer of a text opcode (INT, LONG); anything else is malformed (BigInt would throw SyntaxError). */
function textInt(s: string, at: number): number | bigint {
  if (!/^[+-]?\d+$/.test(s)) throw new PickleError(`pickle integer ${JSON.stringify(s.slice(0, 40))} is not a number (before byte ${at})`);
  return toInt(BigInt(s));
}

/** Little-endian two's complement bytes -> integer (LONG1 / LONG4). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return toInt(v);
}

/** Python string-literal body with backslash escapes (protocol-0 STRING), decoded to a JS string. */
function unescapePyString(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|.)/gs, (_m, e: string) => {
    switch (e[0]) {
      case 'x':
      case 'u':
      case 'U':
        return String.fromCodePoint(parseInt(e.slice(1), 16));
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case 'r':
        return '\r';
      case 'a':
        return '\x07';
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      case 'v':
        return '\v';
      case '\n':
        return '';
      default:
        return /^[0-7]+$/.test(e) ? String.fromCharCode(parseInt(e, 8)) : e;
    }
  });
}

/** Runs the pickle in `bytes` and returns the unpickled value. Throws PickleError on malformed input. */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength;
  let p = 0;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();
  const utf8 = new TextDecoder('utf-8');

  const need = (k: number) => {
    if (p + k > n) throw new PickleError(`pickle data truncated at byte ${p} (needs ${k} more)`);
  };
  const u8 = () => (need(1), bytes[p++]!);
  const u16 = () => (need(2), (p += 2), view.getUint16(p - 2, true));
  const u32 = () => (need(4), (p += 4), view.getUint32(p - 4, true));
  const i32 = () => (need(4), (p += 4), view.getInt32(p - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(p, true);
    p += 8;
    if (v > BigInt(n)) throw new PickleError(`pickle length ${v} exceeds the data`);
    return Number(v);
  };
  const take = (k: number) => {
    if (k < 0) throw new PickleError(`negative pickle length ${k} at byte ${p}`);
    need(k);
    p += k;
    return bytes.subarray(p - k, p);
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) throw new PickleError(`pickle data truncated at byte ${p} (no newline)`);
    const s = Buffer.from(bytes.buffer, bytes.byteOffset + p, end - p).toString('latin1');
    p = end + 1;
    return s;
  };
  // A function, not `stack.push(...)` inline: `stack.push(popMark())` would bind the old stack before
  // popMark() swaps it.
  const push = (v: unknown) => {
    stack.push(v);
  };
  const pop = () => {
    if (stack.length === 0) throw new PickleError(`pickle stack underflow at byte ${p - 1}`);
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) throw new PickleError(`pickle stack underflow at byte ${p - 1}`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (!prev) throw new PickleError(`pickle MARK missing at byte ${p - 1}`);
    stack = prev;
    return items;
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) throw new PickleError(`pickle memo key ${i} missing`);
    return memo.get(i);
  };
  const findGlobal = (module: string, name: string): unknown => {
    const found = opts.findGlobal?.(module, name);
    return found === undefined ? new PyGlobal(module, name) : found;
  };
  /** REDUCE / NEWOBJ: only allow-listed functions run; everything else is recorded as data. */
  const call = (fn: unknown, args: unknown, kwargs?: unknown): unknown => {
    const a = Array.isArray(args) ? args : [args];
    if (fn instanceof PyFunction && kwargs === undefined) return fn.call(a);
    return new PyObject(fn, a, kwargs);
  };
  const setItem = (target: unknown, k: unknown, v: unknown) => {
    if (target instanceof Map) target.set(k, v);
    else if (target instanceof PyObject) target.dictItems.set(k, v);
    else throw new PickleError(`pickle SETITEM on a non-dict (${typeof target})`);
  };
  const append = (target: unknown, items: unknown[]) => {
    // a loop, not push(...items): spreading 300,000 items (a 300 KB pickle) overflows the call stack
    const list = Array.isArray(target) ? target : target instanceof PyObject ? target.listItems : null;
    if (list) for (const i of items) list.push(i);
    else if (target instanceof Set) for (const i of items) target.add(i);
    else throw new PickleError(`pickle APPEND on a non-list (${typeof target})`);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME (a length hint only)
        take(8);
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length === 0) popMark();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      // --- constants and numbers
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
        push(decodeLong(take(u8())));
        break;
      case 0x8b: // LONG4
        push(decodeLong(take(i32())));
        break;
      case 0x49: {
        // INT (text); I01/I00 are True/False in protocol 0
        const s = line().trim();
        if (s === '01') push(true);
        else if (s === '00') push(false);
        else push(textInt(s, p));
        break;
      }
      case 0x4c: // LONG (text, trailing L)
        push(textInt(line().trim().replace(/L$/, ''), p));
        break;
      case 0x46: // FLOAT (text)
        push(parseFloat(line()));
        break;
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        push(view.getFloat64(p, false));
        p += 8;
        break;
      // --- strings and bytes
      case 0x58: // BINUNICODE
        push(utf8.decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(utf8.decode(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        push(utf8.decode(take(u64())));
        break;
      case 0x56: // UNICODE (raw-unicode-escape text)
        push(line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string, b: string) => String.fromCodePoint(parseInt(a ?? b, 16))));
        break;
      case 0x53: {
        // STRING (quoted text): a Python 2 str; decoded as text
        const s = line().trim();
        push(unescapePyString(s.slice(1, -1)));
        break;
      }
      case 0x54: // BINSTRING
        push(utf8.decode(take(i32())));
        break;
      case 0x55: // SHORT_BINSTRING
        push(utf8.decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        push(take(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        push(take(u8()));
        break;
      case 0x8e: // BINBYTES8
        push(take(u64()));
        break;
      case 0x96: // BYTEARRAY8
        push(Uint8Array.from(take(u64())));
        break;
      // --- containers
      case 0x29: // EMPTY_TUPLE
        push([]);
        break;
      case 0x85: // TUPLE1
        push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        push([a, b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        push([a, b, c]);
        break;
      }
      case 0x74: // TUPLE
        push(popMark());
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const d = new Map();
        for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i], items[i + 1]);
        push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItem(top(), k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        const d = top();
        for (let i = 0; i + 1 < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        break;
      }
      case 0x8f: // EMPTY_SET
        push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x91: // FROZENSET
        push(new Set(popMark()));
        break;
      // --- memo
      case 0x70: // PUT (text)
        memo.set(parseInt(line(), 10), top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET (text)
        push(memoGet(parseInt(line(), 10)));
        break;
      case 0x68: // BINGET
        push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(u32()));
        break;
      // --- globals, calls, objects (never executed unless allow-listed)
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        push(findGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new PickleError('pickle STACK_GLOBAL needs two strings');
        push(findGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        push(call(fn, args));
        break;
      }
      case 0x81: {
        // NEWOBJ  cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        push(call(cls, args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        push(call(cls, args, kwargs));
        break;
      }
      case 0x69: {
        // INST "module\nname\n" (protocol 0): instance from the args after MARK
        const cls = findGlobal(line(), line());
        push(call(cls, popMark()));
        break;
      }
      case 0x6f: {
        // OBJ: MARK cls args... OBJ
        const items = popMark();
        push(call(items[0], items.slice(1)));
        break;
      }
      case 0x62: {
        // BUILD: obj.__setstate__(state) or obj.__dict__.update(state) — stored as data
        const state = pop();
        const obj = top();
        if (obj instanceof PyObject) obj.state = obj.state === undefined ? state : [obj.state, state];
        // On a Map (OrderedDict with _metadata) or a tensor, the state carries nothing we need.
        break;
      }
      case 0x50: // PERSID (text)
        if (!opts.persistentLoad) throw new PickleError('pickle uses persistent ids but no loader was given');
        push(opts.persistentLoad(line()));
        break;
      case 0x51: // BINPERSID
        if (!opts.persistentLoad) throw new PickleError('pickle uses persistent ids but no loader was given');
        push(opts.persistentLoad(pop()));
        break;
      case 0x82:
      case 0x83:
      case 0x84:
        throw new PickleError('pickle extension registry opcodes (EXT1/2/4) are not supported');
      case 0x97:
      case 0x98:
        throw new PickleError('pickle out-of-band buffers (protocol 5) are not supported');
      default:
        throw new PickleError(`unknown pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${p - 1}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers for walking unpickled values

/** dict-like lookup: a Map (dict/OrderedDict) or a placeholder object's dict items. */
export function pyGet(obj: unknown, key: string): unknown {
  if (obj instanceof Map) return obj.get(key);
  if (obj instanceof PyObject) return obj.dictItems.get(key);
  return undefined;
}

/** A short description of a value for messages. */
export function pyTypeName(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof Map) return 'dict';
  if (Array.isArray(v)) return 'list/tuple';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof Set) return 'set';
  if (v instanceof PyObject) return `${v.className} object`;
  if (v instanceof PyGlobal) return v.qualname;
  if (v instanceof PyFunction) return v.qualname;
  return typeof v;
}
