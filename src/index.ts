import { DurableObject } from "cloudflare:workers";
export class CacheShard extends DurableObject {
  async ping(): Promise<string> { return "pong"; }
}
export default { async fetch() { return new Response("ok"); } };
