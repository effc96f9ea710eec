// The outcome of one probe or hook handler run.
export interface ProbeResult {
  ok: boolean;
  /** Why it failed (the kubelet's wording); the command's output for exec. */
  message: string;
}
