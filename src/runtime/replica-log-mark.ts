// How a replica tells the backend which request a log line belongs to: lines printed while a
// request is handled start with an OSC escape sequence carrying its id (invisible on a terminal),
// which the backend strips into the record's request_id. Both model servers write it.

export const REQUEST_MARK_START = '\u001b]plinth-request;';
export const REQUEST_MARK_END = '\u0007';

export function markLine(requestId: string, line: string): string {
  return `${REQUEST_MARK_START}${requestId}${REQUEST_MARK_END}${line}`;
}

export function readMark(line: string): { requestId: string | null; text: string } {
  if (!line.startsWith(REQUEST_MARK_START)) return { requestId: null, text: line };
  const end = line.indexOf(REQUEST_MARK_END, REQUEST_MARK_START.length);
  if (end === -1) return { requestId: null, text: line };
  return { requestId: line.slice(REQUEST_MARK_START.length, end), text: line.slice(end + 1) };
}
