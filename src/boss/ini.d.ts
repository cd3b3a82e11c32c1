// ini 7 ships no type declarations; voxport only parses.
declare module "ini" {
  export function parse(text: string): Record<string, unknown>;
  const ini: { parse: typeof parse };
  export default ini;
}
