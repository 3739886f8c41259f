/**
 * A chat message's `content` as OpenAI sends it: a string, or parts of type `text` and
 * `image_url`. An image given as a `data:` URL (base64) rides on the message as the engines take
 * images; an http(s) URL is refused, since the fabric fetches nothing on a client's behalf.
 * Other part types (audio, files) are refused by name.
 */
import { z } from 'zod';
import { OpenAiError } from './errors.ts';

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const imagePart = z.object({ type: z.literal('image_url'), image_url: z.object({ url: z.string(), detail: z.enum(['auto', 'low', 'high']).optional() }).passthrough() });
const DATA_URL = /^data:image\/[A-Za-z0-9.+-]+;base64,([A-Za-z0-9+/]*={0,2})$/;

export type ContentValue = string | ({ type: string } & Record<string, unknown>)[];

/** The text of message `i` and its images (base64, without the data: prefix). */
export function contentOf(content: ContentValue, i: number): { text: string; images: string[] } {
  if (typeof content === 'string') return { text: content, images: [] };
  const out = { text: '', images: [] as string[] };
  content.forEach((part, j) => {
    const where = `messages.${i}.content.${j}`;
    if (part.type === 'text') {
      const t = textPart.safeParse(part);
      if (!t.success) throw OpenAiError.invalid(`messages[${i}].content[${j}]: a text part needs text`, where);
      out.text += t.data.text;
      return;
    }
    if (part.type === 'image_url') {
      const img = imagePart.safeParse(part);
      if (!img.success) throw OpenAiError.invalid(`messages[${i}].content[${j}]: an image_url part needs image_url.url`, where);
      const url = img.data.image_url.url;
      const data = DATA_URL.exec(url);
      if (!data) {
        const kind = /^https?:/i.test(url) ? 'an http(s) URL' : 'not a base64 data: URL';
        throw OpenAiError.invalid(`messages[${i}].content[${j}].image_url.url is ${kind}; only data:image/...;base64 URLs are taken (the fabric fetches no URLs)`, `${where}.image_url.url`);
      }
      if (data[1]!.length === 0 || data[1]!.length % 4 !== 0) throw OpenAiError.invalid(`messages[${i}].content[${j}].image_url.url: the base64 data is empty or malformed`, `${where}.image_url.url`);
      out.images.push(data[1]!);
      return;
    }
    throw OpenAiError.invalid(`messages[${i}].content[${j}]: parts of type ${JSON.stringify(part.type)} are not supported (text, image_url)`, where);
  });
  return out;
}
