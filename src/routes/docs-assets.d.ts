// swagger-ui-dist's files, imported as text by the `[[rules]]` in wrangler.toml (routes/docs.ts serves them).
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const text: string;
  export default text;
}
declare module "swagger-ui-dist/swagger-ui.css" {
  const text: string;
  export default text;
}
