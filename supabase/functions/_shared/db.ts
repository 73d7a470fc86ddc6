/**
 * The database as the handlers use it: one RPC per statement of threadsync/sql/queries.sql, named
 * arguments, one row back. A supabase-js client is one; so is a test's fake.
 */

/** The part of a supabase-js client the handlers call. */
export interface RpcClient {
  rpc(
    fn: string,
    args: Record<string, unknown>,
  ): PromiseLike<{ data: unknown; error: { message: string } | null }>;
}

export type Row = Record<string, unknown>;

/** A failed RPC: the PostgREST error's message. */
export class RpcError extends Error {
  override name = "RpcError";
}

/** The single row that `fn` returns, as the Python handlers unpack `(row,) = db.query(...)`. */
export async function rpcRow(
  db: RpcClient,
  fn: string,
  args: Record<string, unknown>,
): Promise<Row> {
  const { data, error } = await db.rpc(fn, args);
  if (error) throw new RpcError(error.message);
  if (!Array.isArray(data) || data.length !== 1) {
    const got = Array.isArray(data) ? `${data.length} rows` : typeof data;
    throw new RpcError(`${fn} returned ${got}, expected one row`);
  }
  return data[0] as Row;
}
