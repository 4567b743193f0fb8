const EXTENSIONS: Readonly<Record<string, string>> = {
  'image/png': 'png',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'image/jpeg': 'jpg',
  'video/mp4': 'mp4',
};

/** The file extension for an output's mime type, for file names members and tools see. */
export function extensionFor(mime: string): string {
  return EXTENSIONS[mime] ?? 'bin';
}
