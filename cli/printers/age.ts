// Ages are printed by the shared printers of api/ (the server's Tables use the same).
export { age, humanDuration } from '../../api/printers/age.js';
