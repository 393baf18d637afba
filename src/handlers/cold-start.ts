// The one way Lambdas here build their dependencies: once per container, lazily, retried after a failure.
/**
 * Builds a Lambda's dependencies on its first invocation and keeps them for the container's life. A failed
 * build (a secret not filled in yet, Secrets Manager briefly unreachable) is retried by the next
 * invocation instead of poisoning the container, and importing the module has no side effects.
 */
export function onColdStart<T>(build: () => Promise<T>): () => Promise<T> {
  let ready: Promise<T> | undefined;
  return () => {
    ready ??= build().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };
}
