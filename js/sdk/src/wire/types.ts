/** The runtime description of wire types that `schema.gen.ts` holds and `codec.ts` interprets. */

export type TypeDef =
  | { readonly k: "str"; readonly min?: number; readonly max?: number; readonly pattern?: string }
  | { readonly k: "int"; readonly ge?: number; readonly le?: number }
  | { readonly k: "bytes"; readonly min?: number; readonly max?: number }
  | { readonly k: "bool" }
  | { readonly k: "none" }
  | { readonly k: "any" }
  | { readonly k: "raw" }
  | { readonly k: "lit"; readonly values: readonly (string | number)[] }
  | { readonly k: "list"; readonly item: TypeDef; readonly min?: number; readonly max?: number }
  | { readonly k: "dict"; readonly key: TypeDef; readonly value: TypeDef; readonly min?: number; readonly max?: number }
  | { readonly k: "ref"; readonly name: string }
  | { readonly k: "union"; readonly types: readonly TypeDef[] };

export interface FieldDef {
  readonly name: string;
  readonly type: TypeDef;
  /** The default as JSON builtins (bytes would be base64); absent: the field is required. */
  readonly default?: unknown;
}

export interface StructDef {
  readonly name: string;
  readonly tagField: string | null;
  readonly tag: string | null;
  readonly forbidUnknown: boolean;
  readonly arrayLike: boolean;
  /** Fields equal to their default are left out of both encodings (msgspec's `omit_defaults`). */
  readonly omitDefaults: boolean;
  readonly fields: readonly FieldDef[];
}
