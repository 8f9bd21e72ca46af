/** Download names built from a job: ASCII, lower case, dashes; safe on every file system. */
export function jobFileStem(jobName: string, jobId: string): string {
  const slug = jobName
    .normalize('NFKD')
    .replace(/[^\w\s-]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[\s_-]+/g, '-')
    .slice(0, 40)
    .replace(/-+$/, '');
  return slug ? `${slug}-${jobId}` : jobId;
}
