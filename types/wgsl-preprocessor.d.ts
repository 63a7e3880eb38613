declare module 'wgsl-preprocessor/wgsl-preprocessor.js' {
  /**
   * Template-literal tag that resolves `#if` / `#elif` / `#else` / `#endif` blocks
   * using the interpolated values as conditions, and returns plain WGSL source.
   */
  export function wgsl(strings: TemplateStringsArray, ...values: unknown[]): string;
}
