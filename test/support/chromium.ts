/**
 * Flags for the system Chromium, headless, with WebGPU on SwiftShader (a CPU implementation of Vulkan)
 * and nothing fetched from the network: the browser test project and the app's end-to-end tests.
 */
export const chromiumArgs = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--enable-unsafe-swiftshader',
  // The compositor on ANGLE's SwiftShader too: without it, presenting a WebGPU canvas loses the
  // device ('A valid external Instance reference no longer exists') on the first frame.
  '--use-angle=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
