// A compile-time check that two types are the same: a zod schema and the interface it describes, so one
// cannot gain or lose a field without the other (`const ok: Exactly<A, B> = true` fails to compile).
export type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
