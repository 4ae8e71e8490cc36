// MongoDB URLs, read without the driver (the SQLite-only paths never load it).

/** The host list of a MongoDB URL, without credentials or options (for logs and messages). */
export function describeMongoUrl(url: string): string {
  const match = /^(mongodb(?:\+srv)?:\/\/)(?:[^@/]*@)?([^/?]*)/.exec(url);
  return match ? `${match[1]}${match[2]}` : 'mongodb://?';
}

/** The database named in a MongoDB URL's path (mongodb://host/<db>?...), if any. */
export function databaseOfUrl(url: string): string | undefined {
  const match = /^mongodb(?:\+srv)?:\/\/[^/?#]+\/([^/?#]+)/.exec(url);
  return match ? decodeURIComponent(match[1] as string) : undefined;
}
