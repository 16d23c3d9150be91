import { InvalidArgumentError } from '../core/errors.js'
import { apiErrorMessage, KubeClient, loadKubeConfig, statusCodeOf } from './kube.js'

/**
 * The read capability of a StoredFile, as a user fetches it with their own kubeconfig: the
 * StoredFile's status names the Secret (status.capabilitySecretRef), the Secret's `capability` key
 * holds it. Needs get on storedfiles and on that Secret in the namespace.
 */
export async function readStoredFileCapability (ref: string, kubeconfig?: string): Promise<string> {
  const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(ref)
  if (match === null) throw new InvalidArgumentError(`--storedfile must be NAMESPACE/NAME, got ${JSON.stringify(ref.slice(0, 300))}`)
  const namespace = match[1] as string
  const name = match[3] as string
  const kube = new KubeClient(loadKubeConfig(kubeconfig))
  const failed = (what: string, err: unknown): Error => {
    const code = statusCodeOf(err)
    return new InvalidArgumentError(`Cannot read ${what}: ${code === 403 ? 'forbidden by RBAC for your identity' : apiErrorMessage(err)}`)
  }
  let obj
  try {
    obj = await kube.getStoredFile(namespace, name)
  } catch (err) { throw failed(`StoredFile ${ref}`, err) }
  if (obj === undefined) throw new InvalidArgumentError(`StoredFile ${ref} not found`)
  const secretName = obj.status?.capabilitySecretRef?.name
  if (secretName === undefined) throw new InvalidArgumentError(`StoredFile ${ref} is not stored yet (phase ${obj.status?.phase ?? 'Pending'}): no capability Secret in its status`)
  let secret
  try {
    secret = await kube.getSecret(namespace, secretName)
  } catch (err) { throw failed(`Secret ${namespace}/${secretName}`, err) }
  const value = secret?.data?.capability
  if (value === undefined) throw new InvalidArgumentError(`Secret ${namespace}/${secretName} has no capability key`)
  return Buffer.from(value, 'base64').toString('utf8').trim()
}
